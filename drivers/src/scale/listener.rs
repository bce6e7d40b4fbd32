//! Whose socket listens on a loopback port, from Linux's `/proc`.
//!
//! The local pool picks a replica's port by binding port 0 and letting it
//! go; until the replica binds it, any process may take it (every other
//! bind to port 0 on the machine draws from the same ephemeral range). A
//! connect that succeeds then proves only that *someone* listens: the pool
//! would send the service's traffic to a stranger while its own replica
//! fails to bind. So readiness also asks who holds the listening socket.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};

/// Who listens on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listener {
    /// A process of the given process group holds a socket listening on it.
    Group,
    /// Sockets listen on it, and none belongs to the group: held by the
    /// process named, when lpa may look into it (`pid 812 (docker-proxy)`).
    Other(Option<String>),
    /// Nothing to go by: no `/proc/net/tcp` (not Linux), no listening
    /// socket on the port right now, or a process of the group that could
    /// not be looked into.
    Unknown,
}

/// Who listens on `port` (any local address, IPv4 or IPv6) as seen from
/// this process's network namespace, against the process group `group`.
pub(crate) fn listener(port: u16, group: u32) -> Listener {
    let mut inodes = Vec::new();
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(file) = File::open(table) {
            read_any = true;
            inodes.extend(listening_inodes(BufReader::new(file), port));
        }
    }
    if !read_any || inodes.is_empty() {
        return Listener::Unknown;
    }
    match group_holds(group, &inodes) {
        Some(true) => Listener::Group,
        Some(false) => Listener::Other(holder(&inodes)),
        None => Listener::Unknown,
    }
}

/// The first process found holding one of `inodes`, as `pid N (name)`: a
/// look through every process's descriptors, so only once a stranger is
/// known to listen.
fn holder(inodes: &[u64]) -> Option<String> {
    let wanted = sockets(inodes);
    pids()?.find_map(|pid| {
        holds(pid, &wanted)?.then(|| {
            let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            match name.trim() {
                "" => format!("pid {pid}"),
                name => format!("pid {pid} ({name})"),
            }
        })
    })
}

/// Every process's pid, from `/proc`'s numeric entries; `None` without `/proc`.
fn pids() -> Option<impl Iterator<Item = u32>> {
    let procs = fs::read_dir("/proc").ok()?;
    Some(
        procs
            .flatten()
            .filter_map(|p| p.file_name().to_str()?.parse().ok()),
    )
}

/// The `/proc/PID/fd` link text of each socket inode.
fn sockets(inodes: &[u64]) -> Vec<String> {
    inodes.iter().map(|i| format!("socket:[{i}]")).collect()
}

/// Whether process `pid` has one of the `wanted` sockets open; `None` when
/// its descriptors cannot be read (gone, or another user's).
fn holds(pid: u32, wanted: &[String]) -> Option<bool> {
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
    }))
}

/// The socket inodes of the rows of a `/proc/net/tcp{,6}` table in state
/// LISTEN (0A) on `port`.
///
/// Reads only as far as the listening sockets: the kernel lists them
/// first (`tcp_get_idx` walks the listening hash before the established
/// one), and the rows after them, one per connection and per TIME_WAIT,
/// run to tens of thousands under a load of short connections, which took
/// the kernel about a second to write per read, and the pool one read per
/// replica it started. SYN_RECV (03) rows do not end the section: kernels
/// before 4.4 listed a listener's pending connections right after it. A
/// kernel that ordered them otherwise would hide a listener, which makes
/// readiness fall back to the connect alone ([`Listener::Unknown`]).
fn listening_inodes(table: impl BufRead, port: u16) -> Vec<u64> {
    let port = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for row in table.lines().skip(1) {
        let Ok(row) = row else { break };
        let fields: Vec<&str> = row.split_whitespace().collect();
        match fields.get(3) {
            Some(&"0A") => {}
            Some(&"03") => continue,
            _ => break,
        }
        if !fields.get(1).is_some_and(|local| local.ends_with(&port)) {
            continue;
        }
        if let Some(inode) = fields
            .get(9)
            .and_then(|i| i.parse().ok())
            .filter(|&i| i != 0)
        {
            inodes.push(inode);
        }
    }
    inodes
}

/// Whether a process of `group` has one of `inodes` open; `None` when a
/// process of the group could not be looked into (its descriptors are
/// another user's, as after a setuid), which then cannot be ruled out.
fn group_holds(group: u32, inodes: &[u64]) -> Option<bool> {
    let wanted = sockets(inodes);
    let mut unreadable = false;
    for pid in pids()? {
        // Gone since the listing, or not in the group: not the group's.
        let Some(pgrp) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| process_group(&s))
        else {
            continue;
        };
        if pgrp != group {
            continue;
        }
        match holds(pid, &wanted) {
            Some(true) => return Some(true),
            Some(false) => {}
            None => unreadable = true,
        }
    }
    (!unreadable).then_some(false)
}

/// The process group in a `/proc/PID/stat` line: the third field after the
/// command name, which is in parentheses and may itself hold spaces and
/// parentheses (hence the last ')').
fn process_group(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn own_group() -> u32 {
        process_group(&fs::read_to_string("/proc/self/stat").unwrap()).unwrap()
    }

    #[test]
    fn reads_the_group_past_a_command_name_with_parentheses() {
        assert_eq!(
            process_group("4242 (a) b (c) S 1 4240 4240 0 -1 4194560"),
            Some(4240)
        );
        assert_eq!(process_group("garbage"), None);
    }

    /// Fails the test if read: what lies past the listening section.
    struct Unread;

    impl std::io::Read for Unread {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("read past the listening sockets");
        }
    }

    #[test]
    fn picks_listening_rows_of_the_port_only_and_stops_after_them() {
        // As the kernel writes it: listeners (a pre-4.4 kernel's pending
        // connection among them), then connections, then nothing we read.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:B76B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0\n\
   1: 0100007F:B76B 0100007F:8311 03 00000000:00000000 00:00000000 00000000  1000        0 0 1 0 100 0 0 10 0\n\
   2: 0100007F:076B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0\n\
   3: 0100007F:B76B 0100007F:8310 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0\n";
        let rows = || BufReader::new(std::io::Read::chain(table.as_bytes(), Unread));
        assert_eq!(listening_inodes(rows(), 0xB76B), vec![111]);
        assert_eq!(listening_inodes(rows(), 0x076B), vec![333]);
        assert!(listening_inodes(rows(), 0x1234).is_empty());
    }

    /// The order `listening_inodes` relies on, on the kernel the tests
    /// run on: a listener opened after many connections is still found.
    #[test]
    fn finds_a_listener_behind_many_connections() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let ends: Vec<_> = (0..200)
            .flat_map(|_| {
                let client = std::net::TcpStream::connect(busy.local_addr().unwrap()).unwrap();
                [client, busy.accept().unwrap().0]
            })
            .collect();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            listener(l.local_addr().unwrap().port(), own_group()),
            Listener::Group
        );
        drop(ends);
    }

    #[test]
    fn tells_the_groups_listener_from_another_groups() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener(port, own_group()), Listener::Group);
        // A process leading a group of its own holds nothing on the port.
        let mut other = Command::new("sleep")
            .arg("5")
            .process_group(0)
            .spawn()
            .unwrap();
        // Named by the process that holds it: this test's.
        let name = format!("pid {} (", std::process::id());
        assert!(
            matches!(listener(port, other.id()), Listener::Other(Some(ref by)) if by.starts_with(&name)),
            "{:?}",
            listener(port, other.id())
        );
        let _ = other.kill();
        let _ = other.wait();
        drop(l);
        assert_eq!(listener(port, own_group()), Listener::Unknown);
    }
}
