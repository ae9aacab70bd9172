# Secure mode of the local stack (BLOTTER_STACK_SECURE=1), sourced by stack.sh:
#   Kafka      clients only over TLS with SASL/SCRAM-SHA-512 (users admin and blotter)
#   PostgreSQL TLS only (hostssl), scram-sha-256 passwords; plaintext TCP is rejected
#   Redis      an ACL user (the default user is off); no TLS: hiredis 0.14 has none
# A test CA and a server certificate for 127.0.0.1/localhost are made with openssl under
# $RUN/tls, random passwords under $RUN/secrets (mode 0600). The settings Blotter needs are
# written to $RUN/stack.env, which infra/local/env.sh reads.
# shellcheck shell=bash

TLS_DIR=$RUN/tls
SECRETS_DIR=$RUN/secrets

secure_init() {
    mkdir -p "$TLS_DIR" "$SECRETS_DIR"
    chmod 700 "$TLS_DIR" "$SECRETS_DIR"
    if [ ! -s "$TLS_DIR/server.crt" ]; then
        (
            cd "$TLS_DIR"
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
                -subj "/CN=Blotter local test CA" 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
                -subj "/CN=localhost" 2>/dev/null
            printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
                "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
                -extfile server.ext -out server.crt 2>/dev/null
            cat server.key server.crt >kafka.pem # Kafka's PEM keystore: PKCS#8 key, then chain
            chmod 600 ca.key server.key kafka.pem
        ) || die "secure mode: making the test certificates failed"
    fi
    local u
    for u in kafka-admin kafka-blotter pg-blotter pg-reader redis-blotter; do
        [ -s "$SECRETS_DIR/$u" ] || (umask 077 && openssl rand -hex 16 >"$SECRETS_DIR/$u")
    done
}
secret() { cat "$SECRETS_DIR/$1"; }

# Appended to each node's server.properties (later keys override the plaintext ones).
secure_kafka_properties() { # PORT
    cat <<PROPS

# ---- Secure mode: clients over TLS with SASL/SCRAM-SHA-512 only ----
listeners=SASL_SSL://127.0.0.1:$1,CONTROLLER://127.0.0.1:$(($1 + 1))
advertised.listeners=SASL_SSL://127.0.0.1:$1
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret kafka-admin)";
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/kafka.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
PROPS
}
# Arguments of StorageTool format that create the SCRAM users.
secure_kafka_format_args() {
    printf '%s\n' --add-scram "SCRAM-SHA-512=[name=admin,password=$(secret kafka-admin)]" \
        --add-scram "SCRAM-SHA-512=[name=blotter,password=$(secret kafka-blotter)]"
}
# kcat settings of the admin user, for the stack's own readiness checks.
secure_kcat_conf() {
    local f=$SECRETS_DIR/kcat.conf
    if [ ! -s "$f" ]; then
        (umask 077 && printf '%s\n' security.protocol=SASL_SSL sasl.mechanisms=SCRAM-SHA-512 \
            sasl.username=admin "sasl.password=$(secret kafka-admin)" \
            "ssl.ca.location=$TLS_DIR/ca.crt" >"$f")
    fi
    echo "$f"
}

# Redis: an ACL user for Blotter, the default user off.
secure_redis_conf() {
    printf '%s\n' "user default off" "user blotter on >$(secret redis-blotter) ~* &* +@all"
}

# PostgreSQL: after initdb (run with --auth=scram-sha-256 and the password file), TLS only
# over TCP; the stack itself uses the Unix socket.
secure_pg_setup() { # PG_DIR
    local d=$1
    cp "$TLS_DIR/server.crt" "$d/data/server.crt"
    cp "$TLS_DIR/server.key" "$d/data/server.key"
    chmod 600 "$d/data/server.key"
    printf '%s\n' "local all all trust" "hostssl all all 127.0.0.1/32 scram-sha-256" \
        "host all all 0.0.0.0/0 reject" >"$d/data/pg_hba.conf"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$d/data/server.crt" \
        "$d/data/server.key" "$d/data/pg_hba.conf"; fi
}
secure_pg_options() {
    echo "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c password_encryption=scram-sha-256"
}

# The settings Blotter's programs need (secrets through _FILE paths, never inline).
secure_stack_env() { # BROKERS
    (umask 077 && printf 'postgresql://blotter:%s@127.0.0.1:%s/blotter?sslmode=verify-full&sslrootcert=%s\n' \
        "$(secret pg-blotter)" "$PG_PORT" "$TLS_DIR/ca.crt" >"$SECRETS_DIR/pg-dsn")
    (umask 077 && printf 'postgresql://blotter_reader:%s@127.0.0.1:%s/blotter?sslmode=verify-full&sslrootcert=%s\n' \
        "$(secret pg-reader)" "$PG_PORT" "$TLS_DIR/ca.crt" >"$SECRETS_DIR/pg-reader-dsn")
    (umask 077 && printf 'redis://blotter:%s@127.0.0.1:%s/0\n' "$(secret redis-blotter)" "$REDIS_PORT" \
        >"$SECRETS_DIR/redis-url")
    printf '%s\n' "BLOTTER_KAFKA_BROKERS=$1" \
        BLOTTER_KAFKA_SECURITY_PROTOCOL=SASL_SSL BLOTTER_KAFKA_SASL_MECHANISMS=SCRAM-SHA-512 \
        BLOTTER_KAFKA_SASL_USERNAME=blotter "BLOTTER_KAFKA_SASL_PASSWORD_FILE=$SECRETS_DIR/kafka-blotter" \
        "BLOTTER_KAFKA_SSL_CA_LOCATION=$TLS_DIR/ca.crt" \
        BLOTTER_PG_DSN= "BLOTTER_PG_DSN_FILE=$SECRETS_DIR/pg-dsn" \
        BLOTTER_READER_PG_DSN= "BLOTTER_READER_PG_DSN_FILE=$SECRETS_DIR/pg-reader-dsn" \
        BLOTTER_REDIS_URL= "BLOTTER_REDIS_URL_FILE=$SECRETS_DIR/redis-url"
}
