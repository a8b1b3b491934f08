//! Broker settings passed through to librdkafka (`KAFKA_OPTION_*`, `KAFKA_PROPERTIES_FILE`):
//! they reach the relay's client, the environment wins over the file and both over the
//! relay's own settings, and the librdkafka built here takes TLS with SASL/SCRAM and
//! GSSAPI (Kerberos), which a managed Kafka asks for.
//! One test: it sets process environment variables (nextest runs it in a process of its own).

use command_api::outbox::client_config;
use rdkafka::producer::BaseProducer;

fn relay_config(properties_file: Option<std::path::PathBuf>) -> command_api::RelayConfig {
    let mut config = command_api::Config::defaults().relay;
    config.kafka_brokers = vitrine_testkit::kafka_brokers();
    config.kafka_properties_file = properties_file;
    config
}

fn clear() {
    for (k, _) in std::env::vars() {
        if k.starts_with("KAFKA_OPTION_") {
            std::env::remove_var(k);
        }
    }
}

#[test]
fn broker_options_reach_librdkafka_and_tls_with_sasl_is_built_in() {
    clear();
    let dir = std::env::temp_dir().join(format!("vitrine-kafka-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("client.properties");
    std::fs::write(
        &file,
        "# as Kafka's own clients read it\nclient.id = from-file\nacks=1\nsocket.timeout.ms: 7000\n",
    )
    .unwrap();

    // The file's settings, the environment's over them, and both over the relay's own.
    std::env::set_var("KAFKA_OPTION_CLIENT_ID", "from-env");
    let client = client_config(&relay_config(Some(file.clone())), |c| {
        c.set("acks", "all");
    })
    .unwrap();
    assert_eq!(client.get("client.id"), Some("from-env"));
    assert_eq!(
        client.get("acks"),
        Some("1"),
        "the operator's file overrides the program"
    );
    assert_eq!(client.get("socket.timeout.ms"), Some("7000"));
    clear();

    // A value librdkafka refuses is refused when the client is made, naming the property.
    std::env::set_var("KAFKA_OPTION_SECURITY_PROTOCOL", "carrier-pigeon");
    let err = client_config(&relay_config(None), |_| {})
        .unwrap()
        .create::<BaseProducer>()
        .err()
        .expect("an unknown security.protocol is refused");
    assert!(err.to_string().contains("security.protocol"), "{err}");
    clear();

    // TLS with SASL/SCRAM (needs OpenSSL in librdkafka) and GSSAPI (needs Cyrus SASL).
    for mechanism in ["SCRAM-SHA-512", "PLAIN", "GSSAPI"] {
        std::env::set_var("KAFKA_OPTION_SECURITY_PROTOCOL", "SASL_SSL");
        std::env::set_var("KAFKA_OPTION_SASL_MECHANISM", mechanism);
        std::env::set_var("KAFKA_OPTION_SASL_USERNAME", "vitrine");
        std::env::set_var("KAFKA_OPTION_SASL_PASSWORD", "secret");
        if mechanism == "GSSAPI" {
            // Kerberos logs in with a keytab (librdkafka runs kinit with it); a build
            // without Cyrus SASL would answer "No provider for SASL mechanism GSSAPI".
            std::env::set_var("KAFKA_OPTION_SASL_KERBEROS_KEYTAB", "/etc/krb5.keytab");
            std::env::set_var("KAFKA_OPTION_SASL_KERBEROS_PRINCIPAL", "vitrine");
        }
        let made = client_config(&relay_config(None), |_| {})
            .unwrap()
            .create::<BaseProducer>();
        assert!(made.is_ok(), "{mechanism} over TLS: {:?}", made.err());
        clear();
    }

    // A properties file that is not one is refused with its line.
    std::fs::write(&file, "security.protocol=SSL\nnot a property\n").unwrap();
    let err = client_config(&relay_config(Some(file)), |_| {}).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
