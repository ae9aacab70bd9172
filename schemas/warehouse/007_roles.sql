-- Least privilege: the roles of a warehouse.
--   the migration owner   whoever applies the migrations (owner_pg_dsn, else pg_dsn): owns the
--                         schema blotter and everything in it, creates month partitions
--   blotter_writer        the consumer (pg_dsn): reads and writes the tables of schema blotter
--                         and runs its functions; no DDL, nothing outside the schema
--   blotter_reader        the dashboard, Grafana, BI (reader_pg_dsn): SELECT on the tables and
--                         views of schema blotter, LISTEN (migration 005)
-- Roles belong to the whole cluster; they are created NOLOGIN (an operator gives them a password,
--     ALTER ROLE blotter_writer LOGIN PASSWORD '...';
-- or grants them to login roles of their own: GRANT blotter_writer TO consumer_login;). A
-- migration owner that may not create roles gets a warning and the grants are left to the
-- operator (create the role, then run the grants below).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blotter_writer') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE WARNING 'role blotter_writer is missing and % may not create roles; create it '
                          '(CREATE ROLE blotter_writer NOLOGIN) and run the grants of '
                          'schemas/warehouse/007_roles.sql', current_user;
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE blotter_writer NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created at the same moment by the migration of another database
        END;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO blotter_writer',
                   current_database());
    GRANT USAGE ON SCHEMA blotter TO blotter_writer;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA blotter TO blotter_writer;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA blotter TO blotter_writer;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA blotter TO blotter_writer;
    -- What later migrations create (as the same owner).
    ALTER DEFAULT PRIVILEGES IN SCHEMA blotter
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO blotter_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA blotter
        GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO blotter_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA blotter GRANT EXECUTE ON FUNCTIONS TO blotter_writer;
END
$$;

-- A month's partition is DDL (only the owner of blotter.incidents may create one): the writer
-- runs these functions with the owner's rights, and nobody else may run them. Their own names
-- are qualified; pg_temp last, so nothing the caller creates can stand in for a catalog object.
ALTER FUNCTION blotter.ensure_partition(timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION blotter.ensure_partitions(timestamptz, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION blotter.drain_default_partition()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION blotter.ensure_partition(timestamptz),
                           blotter.ensure_partitions(timestamptz, timestamptz),
                           blotter.drain_default_partition() FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blotter_writer') THEN
        GRANT EXECUTE ON FUNCTION blotter.ensure_partition(timestamptz),
                                  blotter.ensure_partitions(timestamptz, timestamptz),
                                  blotter.drain_default_partition() TO blotter_writer;
    END IF;
END
$$;
