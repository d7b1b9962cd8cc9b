//! What `ckplan menu` shows: the numbered items, and a choice that is none of them.

use super::talk::Line;

/// The menu: a blank line, its title, then each `(number, label)` right-aligned.
pub fn menu(items: &[(&str, &str)]) -> Line {
    let mut text = "\nckplan menu".to_owned();
    for (number, label) in items {
        text.push_str(&format!("\n  {number:>2}. {label}"));
    }
    Line::Always(text)
}

/// A choice that is no item's number.
pub fn no_item(choice: &str) -> Line {
    Line::Always(format!(
        "No item `{choice}`; choose a number from the list."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_lists_each_item_under_its_title_with_numbers_aligned() {
        let shown = menu(&[("1", "Validate"), ("12", "Apply")]);
        let expected = "\nckplan menu\n   1. Validate\n  12. Apply";
        assert_eq!(shown, Line::Always(expected.to_owned()));
    }
}
