//! The checks a saved plan must pass against the configuration in use, before `show`
//! reviews it or `apply` sends anything: one place, typed errors, the same rule for both
//! commands (a plan reviewed or applied against the wrong container, environment, database
//! or zone is the mistake these checks exist for).

use crate::config::Config;
use crate::plan::Plan;
use crate::record::{Environment, Target};

/// Why a plan does not belong to the configuration in use.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanMismatch {
    #[error("it was made for `{planned}` but the configuration targets `{configured}`")]
    Target { planned: Target, configured: Target },
    /// Only `apply` checks it: reads from the embedded emulator are not CloudKit's.
    #[error(
        "it was made against endpoint `{planned}` but the configuration points at `{configured}`"
    )]
    Endpoint { planned: String, configured: String },
    /// Only `apply` checks it: the schema part is imported into the team it was read from.
    #[error("its schema was read for team `{planned}` but {setting} names team `{configured}`")]
    Team {
        planned: String,
        configured: String,
        /// `CKPLAN_TEAM_ID` or the configuration's `team_id:` (`Config::team_setting`).
        setting: &'static str,
    },
}

impl PlanMismatch {
    /// The plan's environment, when it is not the configuration's (whatever else differs):
    /// the one difference `--environment` mends for a command.
    pub fn planned_environment(&self) -> Option<Environment> {
        match self {
            PlanMismatch::Target {
                planned,
                configured,
            } if planned.environment != configured.environment => Some(planned.environment),
            _ => None,
        }
    }

    /// Whether the environment is all that differs (container, database and zone match).
    pub fn only_environment(&self) -> bool {
        match self {
            PlanMismatch::Target {
                planned,
                configured,
            } => {
                planned.environment != configured.environment
                    && Target {
                        environment: configured.environment,
                        ..planned.clone()
                    } == *configured
            }
            PlanMismatch::Endpoint { .. } | PlanMismatch::Team { .. } => false,
        }
    }
}

/// What to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checks {
    /// Container, environment, database and zone (`show`, which warns about an
    /// environment-only difference instead of refusing).
    Target,
    /// The target, then the endpoint the plan's reads went to and the team its schema
    /// part was read for (`apply`).
    TargetAndEndpoint,
}

/// `Ok` when `plan` was made for `config`'s target (and endpoint and team, when asked). A
/// plan that records no endpoint or team (older plans), or a configuration that names no
/// team (apply then uses the plan's), passes those checks.
pub fn check(plan: &Plan, config: &Config, checks: Checks) -> Result<(), PlanMismatch> {
    let configured = config.target();
    if plan.target != configured {
        return Err(PlanMismatch::Target {
            planned: plan.target.clone(),
            configured,
        });
    }
    if checks == Checks::Target {
        return Ok(());
    }
    let endpoint = config.endpoint_text();
    if let Some(planned) = plan.endpoint.as_ref().filter(|p| **p != endpoint) {
        return Err(PlanMismatch::Endpoint {
            planned: planned.clone(),
            configured: endpoint,
        });
    }
    let planned = plan.schema.as_ref().and_then(|part| part.team.as_ref());
    match (planned, &config.team_id) {
        (Some(planned), Some(configured)) if planned != configured => Err(PlanMismatch::Team {
            planned: planned.clone(),
            configured: configured.clone(),
            setting: config.team_setting(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Database;

    fn target(container: &str, environment: Environment) -> Target {
        Target {
            container: container.into(),
            environment,
            database: Database::Public,
            zone: "_defaultZone".into(),
        }
    }

    #[test]
    fn issue_19_an_environment_difference_is_named_apart_from_the_rest() {
        let mismatch = |planned, configured| PlanMismatch::Target {
            planned,
            configured,
        };
        let prod = mismatch(
            target("c", Environment::Production),
            target("c", Environment::Development),
        );
        assert!(prod.only_environment());
        assert_eq!(prod.planned_environment(), Some(Environment::Production));
        let both = mismatch(
            target("c", Environment::Production),
            target("d", Environment::Development),
        );
        assert!(!both.only_environment());
        assert_eq!(both.planned_environment(), Some(Environment::Production));
        let container = mismatch(
            target("c", Environment::Development),
            target("d", Environment::Development),
        );
        assert!(!container.only_environment());
        assert_eq!(container.planned_environment(), None);
    }
}
