//! Where plans and the audit log live on a machine, and the workflow over them — plan and
//! save, load and enforce, restore, purge — the same for every frontend.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ActionHooks, EnforceOptions, EnforceOutcome, Plan, PlanStore, Policy, invoking_user};
use crate::error::{Error, Result};
use crate::scan::{ScanControl, ScanOptions, ScanReport};

/// A plan made and saved by [`StateDir::plan`], with the scan it came from.
#[derive(Debug)]
pub struct SavedPlan {
    pub plan: Plan,
    pub report: ScanReport,
    /// The file the plan was saved as.
    pub saved_as: PathBuf,
}

/// The state directory: the one given, else `$SPECTRA_STATE_DIR`, else
/// `~/.local/state/spectra`. Plans are kept in `plans/`, the audit log is `audit.jsonl`.
#[derive(Debug, Clone)]
pub struct StateDir(PathBuf);

impl StateDir {
    pub fn resolve(given: Option<PathBuf>) -> StateDir {
        StateDir(
            given
                .or_else(|| std::env::var_os("SPECTRA_STATE_DIR").map(PathBuf::from))
                .unwrap_or_else(|| {
                    let home = std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_else(std::env::temp_dir);
                    home.join(".local/state/spectra")
                }),
        )
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn plans(&self) -> PlanStore {
        PlanStore::new(self.0.join("plans"))
    }

    pub fn audit_log(&self) -> PathBuf {
        self.0.join("audit.jsonl")
    }

    /// Options for enforcing as the invoking user ([`invoking_user`]), creating the directory
    /// if needed.
    pub fn enforce_options(&self, override_limits: bool) -> Result<EnforceOptions> {
        std::fs::create_dir_all(&self.0).map_err(|e| Error::io(&self.0, e))?;
        Ok(EnforceOptions {
            override_limits,
            ..EnforceOptions::new(invoking_user(), self.audit_log())
        })
    }

    /// A dry run: scans as `options` say (see [`ScanOptions::for_policy`] for the defaults a
    /// plan should use), selects what `policy` would act on, and saves the plan here so that
    /// [`StateDir::enforce`] acts on exactly it.
    pub fn plan(
        &self,
        policy: &Policy,
        options: ScanOptions,
        control: ScanControl<'_>,
    ) -> Result<SavedPlan> {
        let compiled = policy.compile()?;
        let (plan, report) = super::plan(&compiled, options, control)?;
        let saved_as = self.plans().save(&plan)?;
        Ok(SavedPlan {
            plan,
            report,
            saved_as,
        })
    }

    /// Carries out the saved plan `plan_id` under the safety rules, as the invoking user, with
    /// the audit log here. Returns the plan with what was done.
    pub fn enforce(
        &self,
        plan_id: &str,
        override_limits: bool,
        hooks: ActionHooks,
    ) -> Result<(Plan, EnforceOutcome)> {
        let plan = self.plans().load(plan_id)?;
        let options = EnforceOptions {
            hooks,
            ..self.enforce_options(override_limits)?
        };
        let outcome = super::enforce(&plan, &options)?;
        Ok((plan, outcome))
    }

    /// Puts back what enforcing the saved plan `plan_id` quarantined, under the plan's roots.
    pub fn restore(&self, plan_id: &str, hooks: ActionHooks) -> Result<Vec<PathBuf>> {
        let plan = self.plans().load(plan_id)?;
        let options = EnforceOptions {
            hooks,
            ..self.enforce_options(false)?
        };
        super::restore(&plan.id, &plan.roots(), &options)
    }

    /// Deletes for good the quarantine of the saved plan `plan_id` (what `--purge-now` does
    /// right after enforcing). Returns the purged plan ids (this one, or none).
    pub fn purge_plan(&self, plan_id: &str, hooks: ActionHooks) -> Result<Vec<String>> {
        let plan = self.plans().load(plan_id)?;
        let options = EnforceOptions {
            hooks,
            ..self.enforce_options(false)?
        };
        super::purge(&plan.roots(), Duration::ZERO, Some(&plan.id), &options)
    }

    /// The quarantines under `roots`, or, when none are given, under the roots of the plans
    /// saved here (where enforcing them put their quarantines).
    pub fn quarantines(&self, roots: &[PathBuf]) -> Result<Vec<super::Quarantine>> {
        if !roots.is_empty() {
            return Ok(super::quarantines(roots));
        }
        let mut planned: Vec<PathBuf> = self
            .plans()
            .list()?
            .plans
            .iter()
            .flat_map(|plan| plan.roots.iter().map(|root| root.as_path().to_path_buf()))
            .collect();
        planned.sort();
        planned.dedup();
        Ok(super::quarantines(&planned))
    }

    /// Deletes for good every quarantine under `roots` last used longer than `older_than` ago.
    pub fn purge(
        &self,
        roots: &[PathBuf],
        older_than: Duration,
        hooks: ActionHooks,
    ) -> Result<Vec<String>> {
        let options = EnforceOptions {
            hooks,
            ..self.enforce_options(false)?
        };
        super::purge(roots, older_than, None, &options)
    }
}
