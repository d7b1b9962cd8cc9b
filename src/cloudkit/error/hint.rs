//! What to do about a CloudKit error, as one line for the command line's `hint:`. The
//! advice lives with the error type so that it survives however far the error travels
//! (an apply that stops on a 401 still says to check the key).

use super::CloudKitError;
use crate::cloudkit::wire::Endpoint;
use crate::cloudkit::wire::ServerErrorCode;
use crate::record::Environment;

impl CloudKitError {
    /// Advice for the user, naming the record type or field concerned when the error knows
    /// it; `None` when there is nothing better to say than the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            CloudKitError::UnknownRecordType {
                record_type,
                environment: Environment::Production,
                ..
            } => Some(format!(
                "deploy the schema to production: in CloudKit Console open the container's Schema, \
                 check that record type `{record_type}` and its indexes (QUERYABLE on `recordName`) \
                 exist in development, then choose \"Deploy Schema Changes...\"; production only has \
                 types that were deployed"
            )),
            CloudKitError::UnknownRecordType { record_type, .. } => Some(format!(
                "no record of type `{record_type}` was ever saved in development, so CloudKit does \
                 not know the type yet; the first apply creates it"
            )),
            CloudKitError::NotQueryable { record_type, field } => Some(format!(
                "in CloudKit Console open Schema > Indexes, add a QUERYABLE index on `{field}` for \
                 record type `{record_type}`, save, and deploy the schema to production if this \
                 target is production"
            )),
            CloudKitError::RequestTooLarge { .. } => Some(
                "the request body was too large for CloudKit; make the largest records smaller \
                 (CloudKit's record size limit is 1 MB without assets)"
                    .to_owned(),
            ),
            CloudKitError::RecordTooLarge { record_name, .. } => Some(format!(
                "make record `{record_name}` smaller: CloudKit stores at most 1 MB per record \
                 (assets excluded)"
            )),
            CloudKitError::Service {
                operation, code, ..
            } => service_hint(operation, code),
            CloudKitError::RecordFailed {
                operation, code, ..
            } => service_hint(operation, code),
            _ => None,
        }
    }
}

fn service_hint(operation: &Endpoint, code: &ServerErrorCode) -> Option<String> {
    Some(match code {
        ServerErrorCode::AuthenticationFailed => {
            "check `auth.key_id` and `auth.private_key_file`, \
             that the key is registered for this container in CloudKit Console (API Access > \
             Server-to-Server Keys), and that this machine's clock is right (`ckplan doctor` \
             checks all three)"
                .to_owned()
        }
        ServerErrorCode::AccessDenied if operation.retry_safe() => format!(
            "CloudKit refused to let the key read (`{operation}`): check that the key belongs to \
             this container and environment, and in CloudKit Console (Schema > Security Roles) \
             that the record type is readable by the key's role"
        ),
        ServerErrorCode::AccessDenied => "grant the key's role CREATE and WRITE on the record \
             type in CloudKit Console (Schema > Security Roles, `_creator` and `_icloud`), then \
             deploy the schema if the target is production"
            .to_owned(),
        ServerErrorCode::QuotaExceeded => "the container's storage quota is used up; free space \
             or raise the quota in CloudKit Console"
            .to_owned(),
        ServerErrorCode::Throttled | ServerErrorCode::TryAgainLater => {
            "CloudKit is throttling this container; wait a few minutes and run the command again \
             (an apply resumes where it stopped)"
                .to_owned()
        }
        ServerErrorCode::ZoneNotFound => {
            "create the zone first, or set `zone: _defaultZone` in the config".to_owned()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::error::reply_error;

    #[test]
    fn issue_11_a_403_on_a_query_does_not_advise_granting_writes() {
        let body = br#"{"serverErrorCode":"ACCESS_DENIED","reason":"no"}"#;
        let read = reply_error(Endpoint::Query, 403, body).hint().unwrap();
        assert!(!read.contains("CREATE and WRITE"), "{read}");
        assert!(read.contains("read"), "{read}");
        let write = reply_error(Endpoint::Modify, 403, body).hint().unwrap();
        assert!(write.contains("CREATE and WRITE"), "{write}");
    }

    #[test]
    fn issue_11_not_queryable_hint_names_the_type_and_the_fix() {
        let error = CloudKitError::NotQueryable {
            record_type: "Game".into(),
            field: "recordName".into(),
        };
        assert!(error.to_string().contains("`Game`"), "{error}");
        let hint = error.hint().unwrap();
        assert!(
            hint.contains("QUERYABLE index on `recordName` for record type `Game`"),
            "{hint}"
        );
    }

    #[test]
    fn issue_11_unknown_type_hint_depends_on_the_environment() {
        let error = |environment| CloudKitError::UnknownRecordType {
            record_type: "Game".into(),
            container: "iCloud.x".into(),
            environment,
            reason: None,
        };
        let production = error(Environment::Production).hint().unwrap();
        assert!(production.contains("Deploy Schema Changes"), "{production}");
        let development = error(Environment::Development).hint().unwrap();
        assert!(development.contains("first apply"), "{development}");
    }

    #[test]
    fn authentication_hint_survives_as_a_record_failure_too() {
        let body = br#"{"serverErrorCode":"AUTHENTICATION_FAILED"}"#;
        let hint = reply_error(Endpoint::Modify, 401, body).hint().unwrap();
        assert!(hint.contains("auth.key_id"), "{hint}");
    }
}
