//! Dropping root once the capture is open: the rest of the run (parsing untrusted frames,
//! talking to the network) needs no privileges.

use std::ffi::CString;

use anyhow::{Context, Result, anyhow, bail};
use nix::unistd::{Uid, User, initgroups, setgid, setuid};

/// Becomes `name` (its uid, its primary group and its supplementary groups), for good.
pub fn drop_to(name: &str) -> Result<()> {
    let user = User::from_name(name)
        .with_context(|| format!("--user {name}: cannot look the user up"))?
        .ok_or_else(|| anyhow!("--user {name}: no such user"))?;
    if Uid::effective() == user.uid {
        return Ok(());
    }
    if !Uid::effective().is_root() {
        bail!("--user {name}: only root can switch to another user");
    }
    let c_name = CString::new(name).with_context(|| format!("--user {name:?}: bad name"))?;
    initgroups(&c_name, user.gid).with_context(|| format!("--user {name}: setting groups"))?;
    setgid(user.gid).with_context(|| format!("--user {name}: setting the group"))?;
    setuid(user.uid).with_context(|| format!("--user {name}: setting the user"))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        bail!("--user {name}: root could be regained after dropping it; refusing to go on");
    }
    Ok(())
}
