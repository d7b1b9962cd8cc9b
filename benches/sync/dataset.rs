//! Synthetic sports data with a fixed seed: stadiums (CloudKit-native JSON), teams (plain
//! YAML named `team-{id}`) and games (plain NDJSON named `game-{id}`), the config that
//! describes them, and the deterministic "2 % change" mutation. Everything is a pure
//! function of the total size and the seed, so two runs publish the same bytes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The seed of every generated data set.
pub const SEED: u64 = 5852;
pub const STADIUMS: usize = 32;
pub const TEAMS: usize = 60;

/// Record types in dependency order, with their level (referenced types first).
pub const TYPES: [(&str, usize); 3] = [("Stadium", 0), ("Team", 1), ("Game", 2)];

/// How many records of one type, and its dependency level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeCount {
    pub record_type: &'static str,
    pub level: usize,
    pub count: usize,
}

/// Counts per type, in `TYPES` order.
pub fn type_counts(stadiums: usize, teams: usize, games: usize) -> Vec<TypeCount> {
    TYPES
        .iter()
        .zip([stadiums, teams, games])
        .map(|(&(record_type, level), count)| TypeCount {
            record_type,
            level,
            count,
        })
        .collect()
}

pub struct Stadium {
    pub name: String,
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
    pub capacity: i64,
    pub opened_millis: i64,
}

#[derive(Serialize)]
pub struct Team {
    pub id: usize,
    pub name: String,
    pub city: String,
    pub stadium: String,
    pub founded: i64,
    pub colors: Vec<String>,
}

pub struct Game {
    pub id: usize,
    pub season: i64,
    pub home: usize,
    pub away: usize,
    pub stadium: usize,
    pub start_seconds: i64,
}

/// One generated data set.
pub struct Dataset {
    pub stadiums: Vec<Stadium>,
    pub teams: Vec<Team>,
    pub games: Vec<Game>,
}

const CITIES: [&str; 16] = [
    "Boston", "Chicago", "Denver", "Houston", "Miami", "Oakland", "Phoenix", "Seattle", "Atlanta",
    "Detroit", "Portland", "Austin", "Tampa", "Omaha", "Reno", "Tulsa",
];
const NOUNS: [&str; 12] = [
    "Harbormen",
    "Knights",
    "Bridges",
    "Comets",
    "Foxes",
    "Pilots",
    "Rangers",
    "Owls",
    "Miners",
    "Sailors",
    "Bison",
    "Herons",
];
const COLORS: [&str; 8] = [
    "red", "navy", "green", "gold", "white", "orange", "gray", "purple",
];
/// 2024-03-28T00:00:00Z: opening day of the first season.
const SEASON_START_SECONDS: i64 = 1_711_584_000;
/// Games per season, as in the 5,852-record set.
const GAMES_PER_SEASON: usize = 5_760;

/// The data set of `total` records (32 stadiums, 60 teams, the rest games).
pub fn generate(total: usize, seed: u64) -> Dataset {
    let games = total.saturating_sub(STADIUMS + TEAMS);
    let mut rng = StdRng::seed_from_u64(seed);
    let stadiums = (0..STADIUMS).map(|i| stadium(i, &mut rng)).collect();
    let teams = (1..=TEAMS).map(|id| team(id, &mut rng)).collect();
    let games = (1..=games).map(|id| game(id, &mut rng)).collect();
    Dataset {
        stadiums,
        teams,
        games,
    }
}

fn stadium(index: usize, rng: &mut StdRng) -> Stadium {
    let city = CITIES[index % CITIES.len()];
    Stadium {
        name: format!("{city} {} Park", NOUNS[rng.gen_range(0..NOUNS.len())]),
        city: city.to_owned(),
        latitude: (rng.gen_range(25.0..49.0_f64) * 10_000.0).round() / 10_000.0,
        longitude: (rng.gen_range(-124.0..-67.0_f64) * 10_000.0).round() / 10_000.0,
        capacity: rng.gen_range(18_000..56_000),
        opened_millis: rng.gen_range(-2_000_000_000_i64..1_600_000_000) * 1000,
    }
}

fn team(id: usize, rng: &mut StdRng) -> Team {
    let city = CITIES[(id - 1) % CITIES.len()];
    let colors = (0..rng.gen_range(1..=3))
        .map(|_| COLORS[rng.gen_range(0..COLORS.len())].to_owned())
        .collect();
    Team {
        id,
        name: format!("{city} {}", NOUNS[(id - 1) % NOUNS.len()]),
        city: city.to_owned(),
        stadium: stadium_name((id - 1) % STADIUMS),
        founded: rng.gen_range(1870..2020),
        colors,
    }
}

fn game(id: usize, rng: &mut StdRng) -> Game {
    let home = rng.gen_range(1..=TEAMS);
    let away = (home + rng.gen_range(1..TEAMS) - 1) % TEAMS + 1;
    let season = (id - 1) / GAMES_PER_SEASON;
    let day = ((id - 1) % GAMES_PER_SEASON) / 32;
    let start = SEASON_START_SECONDS
        + season as i64 * 365 * 86_400
        + day as i64 * 86_400
        + rng.gen_range(17..23) * 3_600
        + rng.gen_range(0..12) * 300;
    Game {
        id,
        season: 2024 + season as i64,
        home,
        away,
        stadium: (home - 1) % STADIUMS,
        start_seconds: start,
    }
}

pub fn stadium_name(index: usize) -> String {
    format!("stadium-{:02}", index + 1)
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.stadiums.len() + self.teams.len() + self.games.len()
    }

    pub fn counts(&self) -> Vec<TypeCount> {
        type_counts(self.stadiums.len(), self.teams.len(), self.games.len())
    }

    /// Moves the start of `fraction` of the games (rounded, chosen with `seed`) by one
    /// hour; returns how many games changed.
    pub fn change_games(&mut self, fraction: f64, seed: u64) -> usize {
        let count = (self.games.len() as f64 * fraction).round() as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        for index in rand::seq::index::sample(&mut rng, self.games.len(), count) {
            self.games[index].start_seconds += 3_600;
        }
        count
    }

    /// Writes `data/stadiums.json`, `data/teams.yaml` and `data/games.ndjson` under `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        self.write_stadiums(&data.join("stadiums.json"))?;
        let teams = BufWriter::new(File::create(data.join("teams.yaml"))?);
        serde_yaml::to_writer(teams, &self.teams).map_err(io::Error::other)?;
        self.write_games(&data.join("games.ndjson"))
    }

    fn write_stadiums(&self, path: &Path) -> io::Result<()> {
        let records: Vec<_> = self
            .stadiums
            .iter()
            .enumerate()
            .map(|(index, s)| {
                json!({
                    "recordName": stadium_name(index),
                    "recordType": "Stadium",
                    "fields": {
                        "name": {"value": s.name, "type": "STRING"},
                        "city": {"value": s.city, "type": "STRING"},
                        "location": {
                            "value": {"latitude": s.latitude, "longitude": s.longitude},
                            "type": "LOCATION"
                        },
                        "capacity": {"value": s.capacity, "type": "INT64"},
                        "opened": {"value": s.opened_millis, "type": "TIMESTAMP"}
                    }
                })
            })
            .collect();
        let mut file = BufWriter::new(File::create(path)?);
        serde_json::to_writer_pretty(&mut file, &records)?;
        file.flush()
    }

    fn write_games(&self, path: &Path) -> io::Result<()> {
        let mut file = BufWriter::new(File::create(path)?);
        for game in &self.games {
            let start = chrono::DateTime::from_timestamp(game.start_seconds, 0)
                .ok_or_else(|| io::Error::other("game start out of range"))?
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let line = json!({
                "id": game.id,
                "season": game.season,
                "home": format!("team-{}", game.home),
                "away": format!("team-{}", game.away),
                "stadium": stadium_name(game.stadium),
                "start": start,
            });
            serde_json::to_writer(&mut file, &line)?;
            file.write_all(b"\n")?;
        }
        file.flush()
    }
}

/// Where the generated config points and how it signs.
pub struct Connection<'a> {
    pub endpoint: &'a str,
    pub key_id: &'a str,
    pub private_key_file: &'a Path,
}

/// Writes `ckplan.yaml` describing the data files under `dir`; returns its path.
pub fn write_config(dir: &Path, connection: &Connection) -> io::Result<PathBuf> {
    let path = dir.join("ckplan.yaml");
    let text = format!(
        "# Generated by benches/sync (seed {SEED}).\n\
         container: iCloud.com.example.SportsTime\n\
         environment: development\n\
         database: public\n\
         zone: _defaultZone\n\
         endpoint: {endpoint}\n\
         auth:\n  key_id: {key_id}\n  private_key_file: {key}\n\
         types:\n\
         \x20 Stadium:\n    file: data/stadiums.json\n    fields:\n      name: STRING\n      \
         city: STRING\n      location: LOCATION\n      capacity: INT64\n      opened: TIMESTAMP\n\
         \x20 Team:\n    file: data/teams.yaml\n    record_name: \"team-{{id}}\"\n    fields:\n      \
         name: STRING\n      city: STRING\n      stadium: REFERENCE(Stadium)\n      \
         founded: INT64\n      colors: STRING_LIST\n\
         \x20 Game:\n    file: data/games.ndjson\n    record_name: \"game-{{id}}\"\n    fields:\n      \
         season: INT64\n      home: REFERENCE(Team)\n      away: REFERENCE(Team)\n      \
         stadium: REFERENCE(Stadium)\n      start: TIMESTAMP\n",
        endpoint = connection.endpoint,
        key_id = connection.key_id,
        key = connection.private_key_file.display(),
    );
    std::fs::write(&path, text)?;
    Ok(path)
}
