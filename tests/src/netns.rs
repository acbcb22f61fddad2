//! Network namespaces for NAT tests, built with `ip` and `nft`: a public segment (a bridge in
//! the `public` namespace, which hosts the bootstrap), two routers that masquerade a private
//! LAN each behind it (Linux conntrack NAT: endpoint-independent mapping, address-and-port
//! dependent filtering, no inbound without a mapping), and one host per LAN. The gateway's host
//! also has a link to the test process's namespace, so the test can call it over HTTP as a
//! client on its LAN would. Names carry the test process id, so runs never collide; everything
//! is removed on drop, also when the test panics.
//!
//! ```text
//!  host_a 10.1.0.2 ─ router_a ─┐                 ┌─ router_b ─ host_b 10.2.0.2 ─ test (HTTP)
//!          (NAT 198.18.0.2)    └─ public 198.18.0.1 ┘    (NAT 198.18.0.3)
//! ```
//!
//! Two routers, not one: hosts behind one masquerading router reach each other directly only
//! through hairpin NAT, which Linux masquerading does not do, so no direct path could ever
//! appear between them.

use std::{net::Ipv4Addr, process::Command};

/// The public (bootstrap) address on the public segment.
pub const PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Router A's public address (host A's NAT address).
pub const ROUTER_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Router B's public address (host B's NAT address).
pub const ROUTER_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// Host A, behind router A.
pub const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
/// Host B, behind router B.
pub const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);

/// Runs `program args` (inside `netns` when given); the error names the command and its
/// stderr.
fn run(netns: Option<&str>, program: &str, args: &[&str]) -> Result<(), String> {
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    };
    let out = command.args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` in {}: {}",
            args.join(" "),
            netns.unwrap_or("the test's namespace"),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `nft` rules of a router: masquerade the LAN behind `wan`, forward only what the LAN started,
/// silently drop whatever else arrives from outside (as home routers do: no resets or ICMP
/// errors that would tear down a hole punch whose first packet arrives early), and a `block`
/// chain the test fills to cut direct paths.
const ROUTER_RULES: &str = "
table ip nat {
    chain postrouting { type nat hook postrouting priority srcnat; oifname \"wan\" masquerade; }
}
table inet filter {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname \"wan\" ct state established,related accept
        iifname \"wan\" drop
    }
    chain block { }
    chain forward {
        type filter hook forward priority filter; policy drop;
        jump block
        ct state established,related accept
        iifname \"lan\" oifname \"wan\" accept
    }
}
";

/// The namespaces of one NAT test; removed on drop.
pub struct NatLab {
    prefix: String,
    created: Vec<String>,
    host_link: Option<String>,
    /// The test's address on its link to host B.
    pub test_addr: Ipv4Addr,
    /// Host B's address on that link (the gateway listens for HTTP there).
    pub host_b_link: Ipv4Addr,
}

impl NatLab {
    /// Builds the namespaces.
    ///
    /// # Errors
    ///
    /// If a step fails (not root, no `nft`, a kernel without network namespaces), naming it.
    pub fn build() -> Result<Self, String> {
        let pid = std::process::id();
        // A /30 of 100.100.0.0/16 per process for the test's link to host B.
        let n = pid % 16_384;
        let (third, fourth) = ((n / 64) as u8, ((n % 64) * 4) as u8);
        let mut lab = Self {
            prefix: format!("ph{pid}"),
            created: Vec::new(),
            host_link: None,
            test_addr: Ipv4Addr::new(100, 100, third, fourth + 1),
            host_b_link: Ipv4Addr::new(100, 100, third, fourth + 2),
        };
        lab.build_all()?;
        Ok(lab)
    }

    /// The full name of namespace `name` (`public`, `router_a`, `host_a`, …).
    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn add(&mut self, name: &str) -> Result<String, String> {
        let ns = self.ns(name);
        run(None, "ip", &["netns", "add", &ns])?;
        self.created.push(ns.clone());
        run(Some(&ns), "ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A veth pair: `a_if` in `a`, `b_if` in `b`, both up.
    fn veth(a: &str, a_if: &str, b: &str, b_if: &str) -> Result<(), String> {
        run(
            None,
            "ip",
            &["link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b],
        )?;
        run(Some(a), "ip", &["link", "set", a_if, "up"])?;
        run(Some(b), "ip", &["link", "set", b_if, "up"])
    }

    fn build_all(&mut self) -> Result<(), String> {
        let public = self.add("public")?;
        run(Some(&public), "ip", &["link", "add", "br0", "type", "bridge"])?;
        run(Some(&public), "ip", &["addr", "add", &format!("{PUBLIC}/24"), "dev", "br0"])?;
        run(Some(&public), "ip", &["link", "set", "br0", "up"])?;
        for (side, router_ip, lan) in [("a", ROUTER_A, 1u8), ("b", ROUTER_B, 2u8)] {
            let router = self.add(&format!("router_{side}"))?;
            let host = self.add(&format!("host_{side}"))?;
            let port = format!("to_{side}");
            Self::veth(&router, "wan", &public, &port)?;
            run(Some(&public), "ip", &["link", "set", &port, "master", "br0"])?;
            run(Some(&router), "ip", &["addr", "add", &format!("{router_ip}/24"), "dev", "wan"])?;
            run(Some(&router), "ip", &["route", "add", "default", "via", &PUBLIC.to_string()])?;
            Self::veth(&router, "lan", &host, "eth0")?;
            run(Some(&router), "ip", &["addr", "add", &format!("10.{lan}.0.1/24"), "dev", "lan"])?;
            run(Some(&router), "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
            let rules = std::env::temp_dir().join(format!("{router}.nft"));
            std::fs::write(&rules, ROUTER_RULES).map_err(|e| e.to_string())?;
            let loaded = run(Some(&router), "nft", &["-f", rules.to_str().expect("utf-8 path")]);
            let _ = std::fs::remove_file(&rules);
            loaded?;
            run(Some(&host), "ip", &["addr", "add", &format!("10.{lan}.0.2/24"), "dev", "eth0"])?;
            run(Some(&host), "ip", &["route", "add", "default", "via", &format!("10.{lan}.0.1")])?;
        }
        // The test's link to host B (a caller on the gateway's LAN).
        let host_b = self.ns("host_b");
        let link = format!("{}t", self.prefix);
        run(
            None,
            "ip",
            &["link", "add", &link, "type", "veth", "peer", "name", "caller", "netns", &host_b],
        )?;
        self.host_link = Some(link.clone());
        run(None, "ip", &["addr", "add", &format!("{}/30", self.test_addr), "dev", &link])?;
        run(None, "ip", &["link", "set", &link, "up"])?;
        run(
            Some(&host_b),
            "ip",
            &["addr", "add", &format!("{}/30", self.host_b_link), "dev", "caller"],
        )?;
        run(Some(&host_b), "ip", &["link", "set", "caller", "up"])
    }

    /// Cuts every direct path between the two LANs at router A (both directions); relayed
    /// traffic through the public namespace still flows.
    ///
    /// # Panics
    ///
    /// If `nft` fails.
    pub fn block_direct(&self) {
        let router = self.ns("router_a");
        for rule in [["ip", "daddr"], ["ip", "saddr"]] {
            let args = [
                "add",
                "rule",
                "inet",
                "filter",
                "block",
                rule[0],
                rule[1],
                &ROUTER_B.to_string(),
                "drop",
            ];
            run(Some(&router), "nft", &args).expect("blocking works");
        }
    }

    /// Lifts [`block_direct`](Self::block_direct).
    ///
    /// # Panics
    ///
    /// If `nft` fails.
    pub fn unblock_direct(&self) {
        run(Some(&self.ns("router_a")), "nft", &["flush", "chain", "inet", "filter", "block"])
            .expect("unblocking works");
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        if let Some(link) = &self.host_link {
            let _ = run(None, "ip", &["link", "del", link]);
        }
        for ns in self.created.iter().rev() {
            let _ = run(None, "ip", &["netns", "del", ns]);
        }
    }
}
