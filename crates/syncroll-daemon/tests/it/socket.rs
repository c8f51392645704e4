use std::os::unix::fs::{MetadataExt, PermissionsExt};

use syncroll_testkit::{Daemon, s};

#[test]
fn socket_is_0600_in_a_0700_folder() {
    let daemon = Daemon::start();
    let socket_mode = std::fs::metadata(&daemon.socket).unwrap().mode() & 0o777;
    let dir_mode = std::fs::metadata(daemon.socket.parent().unwrap())
        .unwrap()
        .mode()
        & 0o777;
    assert_eq!(socket_mode, 0o600);
    assert_eq!(dir_mode, 0o700);
}

#[test]
fn a_socket_folder_created_by_the_daemon_is_private() {
    let base = tempfile::tempdir().unwrap();
    let socket = base.path().join("run/syncroll/ctl.sock");
    let daemon = Daemon::builder().socket(socket.clone()).start();
    let dir_mode = std::fs::metadata(socket.parent().unwrap()).unwrap().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    daemon.cli(&["status"]).ok();
}

#[test]
fn a_shared_socket_folder_is_refused() {
    let daemon = Daemon::start();
    let shared = daemon.scratch("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut daemon = daemon;
    daemon.stop();
    let out = daemon
        .command()
        .arg("--socket")
        .arg(shared.join("s.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(s(&shared)) && stderr.contains("0777"),
        "{stderr}"
    );
}

#[test]
fn a_socket_path_that_is_not_a_socket_is_refused() {
    let mut daemon = Daemon::start();
    daemon.stop();
    let file = daemon.scratch("priv").join("not-a-socket");
    std::fs::set_permissions(
        file.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(&file, "precious").unwrap();
    let out = daemon
        .command()
        .arg("--socket")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(s(&file)) && stderr.contains("is not a socket"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "precious",
        "the file is left alone"
    );
}

/// Even if someone loosens the socket's permissions by hand, a client of
/// another uid is dropped by the peer-credential check. Needs root, to run
/// the client as `nobody`.
#[test]
fn a_client_of_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "NOT RUN: a_client_of_another_user_is_refused needs root to run a client as another uid"
        );
        return;
    }
    let daemon = Daemon::start();
    let dir = daemon.socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    // Every ancestor must be traversable for `nobody` to reach the socket.
    for ancestor in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor).unwrap().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(
                ancestor,
                std::fs::Permissions::from_mode((mode & 0o7777) | 0o001),
            )
            .unwrap();
        }
    }

    // Speak the HTTP/2 preface and read: the owner gets the server's
    // SETTINGS frame, another user gets the connection closed at once.
    let probe = |uid: Option<u32>| -> i64 {
        use std::os::unix::process::CommandExt;
        let script = r#"
            use IO::Socket::UNIX;
            $SIG{PIPE} = "IGNORE";
            my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
            print $s "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
            $s->flush;
            my $n = sysread($s, my $buf, 64);
            print defined $n ? $n : -1;
        "#;
        let mut command = std::process::Command::new("/usr/bin/perl");
        command.arg("-e").arg(script).arg(&daemon.socket);
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    assert!(probe(None) > 0, "the owner is served");
    // 0 (EOF) or -1 (reset): either way nothing was served.
    assert!(probe(Some(65534)) <= 0, "another uid is disconnected");
    assert!(
        daemon
            .log()
            .contains("refused a control connection from another user")
    );
}

/// `grpcurl -unix` and tray helpers rely on the standard health service and
/// server reflection being served on the socket.
#[test]
fn health_and_reflection_are_served() {
    use tokio_stream::StreamExt;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let daemon = Daemon::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = syncroll_proto::connect(&daemon.socket).await.unwrap();
        let mut health = HealthClient::new(channel.clone());
        for service in [
            "",
            "syncroll.v1.DaemonService",
            "syncroll.v1.CatalogService",
            "syncroll.v1.CollectionService",
            "syncroll.v1.ConnectionService",
        ] {
            let reply = health
                .check(HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply.status, ServingStatus::Serving as i32, "{service:?}");
        }

        let mut reflection = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut replies = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let reply = replies.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("unexpected reflection reply: {reply:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for wanted in [
            "syncroll.v1.DaemonService",
            "syncroll.v1.CatalogService",
            "grpc.health.v1.Health",
        ] {
            assert!(
                names.iter().any(|n| n == wanted),
                "{wanted} missing from {names:?}"
            );
        }
    });
}

/// A gRPC client in another language works with its defaults: Python's
/// grpcio on `unix:PATH` sends the socket path, percent-encoded, as the
/// HTTP/2 `:authority`, which is no valid host, and must not need
/// `grpc.default_authority` set to be served.
#[test]
fn a_stock_python_grpcio_client_is_served() {
    let python = syncroll_testkit::python_with_grpcio();
    let daemon = Daemon::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/grpcio_client.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&daemon.socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the grpcio client failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
