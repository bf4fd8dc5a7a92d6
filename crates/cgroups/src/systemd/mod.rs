//! The systemd cgroup driver (runs in: parent), as runc's: the container's
//! cgroup is a transient scope that systemd (PID 1) creates around the
//! init (StartTransientUnit over D-Bus, with `Delegate=yes` and the limits
//! systemd tracks), after which husk writes every resource file itself
//! with [`crate::Cgroup`] pointed at the scope's directories; `update`
//! also calls SetUnitProperties, and removal is StopUnit, then whatever
//! directories remain. [`unit`] decides names and properties (pure),
//! [`wire`] marshals D-Bus messages, [`dbus`] talks over the socket.

pub mod dbus;
pub mod unit;
pub mod wire;

pub use unit::UnitPath;

use crate::{Error, Result};
use dbus::{Bus, CallError};
use oci_spec::runtime::LinuxResources;
use std::time::{Duration, Instant};
use wire::{Arg, Call, Property};

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long a unit may take to become active, or to go away.
const JOB_TIMEOUT: Duration = Duration::from_secs(5);

/// `sd_booted()`: systemd runs as PID 1 here.
pub fn booted() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// A connection to systemd's Manager.
struct Manager {
    bus: Bus,
}

fn error(op: &'static str, unit: &str, e: impl std::fmt::Display) -> Error {
    Error::Systemd {
        op,
        unit: unit.to_string(),
        reason: e.to_string(),
    }
}

fn is_remote(e: &CallError, names: &[&str]) -> bool {
    matches!(e, CallError::Remote { name, .. } if names.contains(&name.as_str()))
}

impl Manager {
    fn connect(op: &'static str, unit: &str) -> Result<Manager> {
        Bus::connect()
            .map(|bus| Manager { bus })
            .map_err(|e| error(op, unit, e))
    }

    fn call(&mut self, member: &str, args: &[Arg]) -> std::result::Result<wire::Reply, CallError> {
        self.bus.call(&Call {
            path: MANAGER_PATH,
            interface: MANAGER,
            member,
            destination: DESTINATION,
            args,
        })
    }

    /// The unit's ActiveState (`active`, `failed`, ...).
    fn active_state(&mut self, unit: &str) -> std::result::Result<String, CallError> {
        let path = unit::object_path(unit);
        let reply = self.bus.call(&Call {
            path: &path,
            interface: "org.freedesktop.DBus.Properties",
            member: "Get",
            destination: DESTINATION,
            args: &[
                Arg::Str("org.freedesktop.systemd1.Unit"),
                Arg::Str("ActiveState"),
            ],
        })?;
        Ok(reply.first_string.unwrap_or_default())
    }

    fn reset_failed(&mut self, unit: &str) {
        let _ = self.call("ResetFailedUnit", &[Arg::Str(unit)]);
    }
}

/// Starts the container's transient unit around `pid` and waits (bounded)
/// until it is active. A failed unit of the same name left from before is
/// reset and the start tried once more, as runc does.
pub fn start(path: &UnitPath, pid: u32, r: Option<&LinuxResources>, unified: bool) -> Result<()> {
    const OP: &str = "start unit";
    let unit = path.unit.as_str();
    let mut m = Manager::connect(OP, unit)?;
    let props = unit::start_properties(path, pid, r, unified);
    let start = |m: &mut Manager| {
        m.call(
            "StartTransientUnit",
            &[
                Arg::Str(unit),
                Arg::Str("replace"),
                Arg::Props(&props),
                Arg::NoAux,
            ],
        )
    };
    if let Err(e) = start(&mut m) {
        if !is_remote(&e, &["org.freedesktop.systemd1.UnitExists"]) {
            return Err(error(OP, unit, e));
        }
        m.reset_failed(unit);
        start(&mut m).map_err(|e| error(OP, unit, e))?;
    }
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut state = String::new();
    while Instant::now() < deadline {
        match m.active_state(unit) {
            Ok(s) if s == "active" => return Ok(()),
            Ok(s) if s == "failed" => {
                m.reset_failed(unit);
                return Err(error(OP, unit, "the unit failed"));
            }
            Ok(s) => state = s,
            Err(e) if is_remote(&e, &["org.freedesktop.DBus.Error.UnknownObject"]) => {}
            Err(e) => return Err(error(OP, unit, e)),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(error(
        OP,
        unit,
        format!("not active after {JOB_TIMEOUT:?} (state {state:?})"),
    ))
}

/// Stops the unit (`StopUnit(name, "replace")`) and waits (bounded) until
/// systemd is done with it; a unit already gone is fine.
pub fn stop(unit: &str) -> Result<()> {
    const OP: &str = "stop unit";
    let gone = [
        "org.freedesktop.systemd1.NoSuchUnit",
        "org.freedesktop.DBus.Error.UnknownObject",
    ];
    let mut m = Manager::connect(OP, unit)?;
    match m.call("StopUnit", &[Arg::Str(unit), Arg::Str("replace")]) {
        Ok(_) => {}
        Err(e) if is_remote(&e, &gone) => return Ok(()),
        Err(e) => return Err(error(OP, unit, e)),
    }
    let deadline = Instant::now() + JOB_TIMEOUT;
    loop {
        match m.active_state(unit) {
            Ok(s) if s == "inactive" || s == "failed" => break,
            Err(e) if is_remote(&e, &gone) => break,
            Err(e) => return Err(error(OP, unit, e)),
            Ok(s) if Instant::now() >= deadline => {
                return Err(error(
                    OP,
                    unit,
                    format!("still {s:?} after {JOB_TIMEOUT:?}"),
                ))
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    m.reset_failed(unit);
    Ok(())
}

/// `update`: the new limits systemd tracks, at runtime
/// (`SetUnitProperties(name, true, ...)`); the files are written apart.
pub fn set_properties(unit: &str, r: &LinuxResources, unified: bool) -> Result<()> {
    const OP: &str = "set properties of unit";
    let props: Vec<Property> = unit::resource_properties(r, unified);
    if props.is_empty() {
        return Ok(());
    }
    let mut m = Manager::connect(OP, unit)?;
    m.call(
        "SetUnitProperties",
        &[Arg::Str(unit), Arg::Bool(true), Arg::Props(&props)],
    )
    .map(|_| ())
    .map_err(|e| error(OP, unit, e))
}
