-- permesi bare-metal bootstrap. Run once per PostgreSQL cluster by a superuser:
--
--   psql -X -v ON_ERROR_STOP=1 -d postgres -f db/sql/bootstrap.sql
--
-- It is idempotent: re-running it changes nothing that is already in place.
-- It creates one login role and one database per service; each service owns its
-- database and runs its own (embedded) migrations as that role, so no further
-- grants are needed. The two services never share a database or a role.
--
-- No passwords here: the dev and test clusters use unix sockets with trust auth.
-- In production give each role a password (or use client certificates) without
-- echoing it to a history file, e.g. from psql:
--
--   \password genesis
--   \password permesi
--
-- (or ALTER ROLE genesis PASSWORD 'SCRAM-SHA-256$...' with a pre-hashed verifier),
-- and require scram-sha-256 / hostssl for these roles in pg_hba.conf.
--
-- Works with psql's \gexec (psql 9.6+), PostgreSQL 13+.

\set ON_ERROR_STOP on

-- Roles -----------------------------------------------------------------------
SELECT 'CREATE ROLE genesis LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'genesis')
\gexec

SELECT 'CREATE ROLE permesi LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'permesi')
\gexec

-- Least privilege, also when the roles already existed.
ALTER ROLE genesis WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE permesi WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

-- Databases -------------------------------------------------------------------
SELECT 'CREATE DATABASE genesis OWNER genesis ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'genesis')
\gexec

SELECT 'CREATE DATABASE permesi OWNER permesi ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'permesi')
\gexec

ALTER DATABASE genesis OWNER TO genesis;
ALTER DATABASE permesi OWNER TO permesi;

-- Only the owning role may connect (PUBLIC gets CONNECT and TEMP by default).
REVOKE ALL ON DATABASE genesis FROM PUBLIC;
REVOKE ALL ON DATABASE permesi FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE genesis TO genesis;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE permesi TO permesi;

-- Schema privileges -----------------------------------------------------------
-- The owning role owns schema public (PostgreSQL 15+ already revokes CREATE from
-- PUBLIC; older versions do not, so revoke explicitly).
\connect genesis
ALTER SCHEMA public OWNER TO genesis;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO genesis;

\connect permesi
ALTER SCHEMA public OWNER TO permesi;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO permesi;

\connect postgres
