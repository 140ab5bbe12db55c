//! Dropping root once the capture is open: the rest of the run (parsing untrusted frames,
//! talking to the network) needs no privileges.
//!
//! The steps are written against [`Ids`], the process' identity calls, so that the refusals
//! (not root; root regained after the drop) can be tested with ids a test makes up.

use std::ffi::{CStr, CString};

use anyhow::{Context, Result, anyhow, bail};
use nix::unistd::{Gid, Uid, User, initgroups, setgid, setuid};

/// The identity calls a drop makes.
trait Ids {
    fn effective_uid(&self) -> Uid;
    fn initgroups(&mut self, name: &CStr, gid: Gid) -> nix::Result<()>;
    fn setgid(&mut self, gid: Gid) -> nix::Result<()>;
    fn setuid(&mut self, uid: Uid) -> nix::Result<()>;
}

/// The process' own.
struct Process;

impl Ids for Process {
    fn effective_uid(&self) -> Uid {
        Uid::effective()
    }
    fn initgroups(&mut self, name: &CStr, gid: Gid) -> nix::Result<()> {
        initgroups(name, gid)
    }
    fn setgid(&mut self, gid: Gid) -> nix::Result<()> {
        setgid(gid)
    }
    fn setuid(&mut self, uid: Uid) -> nix::Result<()> {
        setuid(uid)
    }
}

/// Becomes `name` (its uid, its primary group and its supplementary groups), for good.
pub fn drop_to(name: &str) -> Result<()> {
    let user = User::from_name(name)
        .with_context(|| format!("--user {name}: cannot look the user up"))?
        .ok_or_else(|| anyhow!("--user {name}: no such user"))?;
    become_user(&mut Process, name, user.uid, user.gid)
}

fn become_user(ids: &mut impl Ids, name: &str, uid: Uid, gid: Gid) -> Result<()> {
    if ids.effective_uid() == uid {
        return Ok(());
    }
    if !ids.effective_uid().is_root() {
        bail!("--user {name}: only root can switch to another user");
    }
    let c_name = CString::new(name).with_context(|| format!("--user {name:?}: bad name"))?;
    ids.initgroups(&c_name, gid)
        .with_context(|| format!("--user {name}: setting groups"))?;
    ids.setgid(gid)
        .with_context(|| format!("--user {name}: setting the group"))?;
    ids.setuid(uid)
        .with_context(|| format!("--user {name}: setting the user"))?;
    if ids.setuid(Uid::from_raw(0)).is_ok() {
        bail!("--user {name}: root could be regained after dropping it; refusing to go on");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    /// A made-up process: its effective uid, the calls made, and whether `setuid(0)` works
    /// after the drop (as it would where the saved set-user-id stayed 0).
    struct Fake {
        euid: u32,
        root_comes_back: bool,
        calls: Vec<String>,
    }

    impl Fake {
        fn new(euid: u32, root_comes_back: bool) -> Fake {
            Fake {
                euid,
                root_comes_back,
                calls: Vec::new(),
            }
        }
    }

    impl Ids for Fake {
        fn effective_uid(&self) -> Uid {
            Uid::from_raw(self.euid)
        }
        fn initgroups(&mut self, name: &CStr, gid: Gid) -> nix::Result<()> {
            self.calls
                .push(format!("initgroups({}, {gid})", name.to_str().unwrap()));
            Ok(())
        }
        fn setgid(&mut self, gid: Gid) -> nix::Result<()> {
            self.calls.push(format!("setgid({gid})"));
            Ok(())
        }
        fn setuid(&mut self, uid: Uid) -> nix::Result<()> {
            self.calls.push(format!("setuid({uid})"));
            if uid.is_root() && !self.root_comes_back {
                return Err(Errno::EPERM);
            }
            self.euid = uid.as_raw();
            Ok(())
        }
    }

    const DROP: [&str; 4] = [
        "initgroups(nobody, 65534)",
        "setgid(65534)",
        "setuid(65534)",
        "setuid(0)",
    ];

    fn drop_nobody(fake: &mut Fake) -> Result<()> {
        become_user(fake, "nobody", Uid::from_raw(65534), Gid::from_raw(65534))
    }

    #[test]
    fn root_that_could_be_regained_is_refused() {
        let mut fake = Fake::new(0, true);
        let e = drop_nobody(&mut fake).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "--user nobody: root could be regained after dropping it; refusing to go on"
        );
        assert_eq!(fake.calls, DROP);
    }

    #[test]
    fn root_drops_groups_group_then_user_and_checks() {
        let mut fake = Fake::new(0, false);
        drop_nobody(&mut fake).unwrap();
        assert_eq!(fake.calls, DROP);
        assert_eq!(fake.euid, 65534);
    }

    #[test]
    fn a_user_other_than_root_cannot_switch() {
        let mut fake = Fake::new(1000, false);
        let e = drop_nobody(&mut fake).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "--user nobody: only root can switch to another user"
        );
        assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    }

    #[test]
    fn already_that_user_changes_nothing() {
        let mut fake = Fake::new(65534, false);
        drop_nobody(&mut fake).unwrap();
        assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    }

    #[test]
    fn a_failed_step_stops_the_drop() {
        struct NoGroups(Fake);
        impl Ids for NoGroups {
            fn effective_uid(&self) -> Uid {
                self.0.effective_uid()
            }
            fn initgroups(&mut self, name: &CStr, gid: Gid) -> nix::Result<()> {
                self.0.initgroups(name, gid)?;
                Err(Errno::EPERM)
            }
            fn setgid(&mut self, gid: Gid) -> nix::Result<()> {
                self.0.setgid(gid)
            }
            fn setuid(&mut self, uid: Uid) -> nix::Result<()> {
                self.0.setuid(uid)
            }
        }
        let mut ids = NoGroups(Fake::new(0, false));
        let e = become_user(
            &mut ids,
            "nobody",
            Uid::from_raw(65534),
            Gid::from_raw(65534),
        )
        .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "--user nobody: setting groups: EPERM: Operation not permitted"
        );
        assert_eq!(ids.0.calls, DROP[..1]);
        assert_eq!(ids.0.euid, 0);
    }
}
