//! The ssh lab (tests/it/support/ssh.rs) proven on its own, before the tests of `diff --ssh` rely
//! on it: each host is a real sshd on its own 127.0.0.N with its own tree, the failing hosts fail
//! as real ones do (refused, changed host key, hung), and twenty hosts start side by side.

use std::process::{Command, Output, Stdio};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use crate::support::ssh::{Host, Lab};

#[track_caller]
fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[track_caller]
fn fails_with(output: &Output, text: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(255),
        "ssh should fail (255)\n--- stderr\n{stderr}"
    );
    assert!(stderr.contains(text), "stderr lacks {text:?}\n{stderr}");
}

#[test]
fn each_host_answers_from_its_own_tree() {
    let lab = Lab::new();
    let started = Instant::now();
    let web = lab.host("web1", "127.0.0.2");
    eprintln!("one sshd started in {:?}", started.elapsed());
    let db = lab.host("db1", "127.0.0.3");
    for host in [&web, &db] {
        host.write(
            "/etc/sitewright-hostname",
            format!("{}\n", host.name()),
            0o644,
        );
    }
    for host in [&web, &db] {
        let file = host.path("/etc/sitewright-hostname");
        let output = Command::new(lab.ssh_binary())
            .arg("-F")
            .arg(lab.config_path())
            .arg(host.name())
            .arg(format!("cat {}", file.display()))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            stdout_of(&output, host.name()),
            format!("{}\n", host.name())
        );
        assert!(
            host.log().contains("Accepted publickey for root"),
            "{}",
            host.log()
        );
        assert!(host.root().join("etc/sitewright-hostname").is_file());
    }
    // Each host is its own server: web1's name reaches 127.0.0.2 and its port only.
    let seen = stdout_of(
        &web.ssh("echo $SSH_CONNECTION"),
        "echo $SSH_CONNECTION on web1",
    );
    assert!(
        seen.trim_end()
            .ends_with(&format!("127.0.0.2 {}", web.port())),
        "{seen}"
    );
    assert_ne!(web.address(), db.address());

    // The mode given is the file's mode on the host.
    let secret = db.write("/etc/secret.conf", "x\n", 0o600);
    let mode = stdout_of(
        &lab.ssh("db1", &format!("stat -c %a {}", secret.display())),
        "stat on db1",
    );
    assert_eq!(mode, "600\n");

    // Plain `ssh` on the lab's PATH reaches the hosts and logs its arguments.
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ssh web1 cat {}",
            web.path("/etc/sitewright-hostname").display()
        ))
        .env("PATH", lab.path_with_ssh())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout_of(&output, "ssh on PATH"), "web1\n");
    assert_eq!(
        lab.ssh_calls(),
        [format!(
            "web1 cat {}",
            web.path("/etc/sitewright-hostname").display()
        )]
    );

    // A multiplexed connection (a master kept alive by ControlPersist) is served, and ends with
    // its host.
    let control = ["-o", "ControlMaster=auto", "-o", "ControlPersist=60"];
    let path = format!("ControlPath={}/cm-%C", lab.dir().display());
    for _ in 0..2 {
        let output = lab
            .ssh_command("web1")
            .args(control)
            .args(["-o", &path, "true"])
            .output()
            .unwrap();
        stdout_of(&output, "multiplexed ssh to web1");
    }
    let check = |what| {
        lab.ssh_command("web1")
            .args(["-o", &path, "-O", "check"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    assert!(check("check"), "the master is up");
    drop(web);
    assert!(
        crate::support::pg::wait_for(10, || !check("check after drop")),
        "the master ended with its host"
    );
}

#[test]
fn failing_hosts_fail_as_real_ones_do() {
    let lab = Lab::new();
    let _up = lab.host("up", "127.0.0.4");
    let down_port = lab.down_host("down", "127.0.0.5");
    let _changed = lab.wrong_key_host("changed", "127.0.0.6");
    let silent = lab.silent_host("hung", "127.0.0.7");

    stdout_of(&lab.ssh("up", "true"), "ssh up");
    let refused = lab.ssh("down", "true");
    fails_with(&refused, "Connection refused");
    fails_with(&refused, &format!("127.0.0.5 port {down_port}"));
    let changed = lab.ssh("changed", "true");
    fails_with(&changed, "Host key verification failed");
    fails_with(&changed, "REMOTE HOST IDENTIFICATION HAS CHANGED");

    // The hung host: a client with no timeout of its own is still waiting after a second.
    let started = Instant::now();
    let mut waiting = lab
        .ssh_command("hung")
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // With ConnectTimeout, which covers the banner exchange, the client gives up by itself.
    let bounded = lab
        .ssh_command("hung")
        .args(["-o", "ConnectTimeout=2", "true"])
        .output();
    sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "ssh to the hung host (port {}) returned within {:?}",
        silent.port(),
        started.elapsed()
    );
    waiting.kill().unwrap();
    waiting.wait().unwrap();
    let bounded = bounded.unwrap();
    fails_with(&bounded, "Connection timed out during banner exchange");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "ConnectTimeout=2 ended after {:?}",
        started.elapsed()
    );
}

#[test]
fn twenty_hosts_start_in_parallel_and_all_answer() {
    let lab = Lab::new();
    let started = Instant::now();
    let hosts: Vec<Host<'_>> = thread::scope(|scope| {
        let lab = &lab;
        let starting: Vec<_> = (0..20)
            .map(|i| {
                scope.spawn(move || lab.host(&format!("h{i}"), &format!("127.0.0.{}", 10 + i)))
            })
            .collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("20 sshd started in parallel in {:?}", started.elapsed());
    for host in &hosts {
        host.write("/etc/name", host.name(), 0o644);
    }
    let answered = Instant::now();
    thread::scope(|scope| {
        for host in &hosts {
            scope.spawn(move || {
                let command = format!("cat {}", host.path("/etc/name").display());
                assert_eq!(stdout_of(&host.ssh(&command), host.name()), host.name());
            });
        }
    });
    eprintln!("20 hosts answered in parallel in {:?}", answered.elapsed());
}
