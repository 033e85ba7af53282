-- core_data's synthetic dataset (schema `testkit`), run by
-- `cargo xtask test-dataset install` in one transaction as the superuser.
-- Deterministic: setseed() fixes random(), so every install has the same rows.
-- @OWNER@ is the quoted owner role.

SET LOCAL search_path = testkit, public, partman;
SELECT setseed(0.42);

CREATE SCHEMA testkit AUTHORIZATION @OWNER@;
COMMENT ON SCHEMA testkit IS 'core_data test dataset v1 (cargo xtask test-dataset install)';

-- Regions: 3 x 3 squares of 0.1 degree around Oslo (PostGIS geometry).
CREATE TABLE testkit.regions (
  region_id integer PRIMARY KEY,
  name text NOT NULL UNIQUE,
  boundary geometry(Polygon, 4326) NOT NULL
);
INSERT INTO testkit.regions
SELECT (x * 3 + y + 1), format('region-%s-%s', x, y),
       ST_MakeEnvelope(10.6 + x * 0.1, 59.8 + y * 0.1, 10.7 + x * 0.1, 59.9 + y * 0.1, 4326)
  FROM generate_series(0, 2) x, generate_series(0, 2) y;
CREATE INDEX ON testkit.regions USING gist (boundary);

-- Places: points (geography), embeddings (pgvector), case-insensitive names
-- (citext), attributes (hstore), opening periods (daterange), full text.
CREATE TABLE testkit.places (
  place_id integer PRIMARY KEY,
  name citext NOT NULL UNIQUE,
  kind text NOT NULL,
  location geography(Point, 4326) NOT NULL,
  embedding vector(4) NOT NULL,
  attributes hstore NOT NULL DEFAULT ''::hstore,
  open_during daterange NOT NULL,
  description text NOT NULL,
  search tsvector GENERATED ALWAYS AS (to_tsvector('english', description)) STORED
);
INSERT INTO testkit.places
SELECT i,
       format('%s %s %s', (ARRAY['North','South','East','West','Old','New','Upper','Lower'])[1 + i % 8],
              (ARRAY['Harbour','Market','Garden','Bridge','Square','Library','Station','Bakery','Museum','Tower'])[1 + (i / 8) % 10],
              i),
       (ARRAY['cafe','museum','park','shop','station'])[1 + i % 5],
       ST_SetSRID(ST_MakePoint(10.6 + random() * 0.3, 59.8 + random() * 0.3), 4326)::geography,
       ARRAY[random(), random(), random(), random()]::vector(4),
       hstore(ARRAY['wifi', (i % 2 = 0)::text, 'seats', (10 + i % 90)::text]),
       daterange(DATE '2020-01-01' + (i % 365), DATE '2030-01-01'),
       format('A %s near the %s with %s', (ARRAY['quiet','busy','sunny','historic'])[1 + i % 4],
              (ARRAY['river','fjord','forest','harbour'])[1 + (i / 4) % 4],
              (ARRAY['coffee','paintings','trees','books','trains'])[1 + i % 5])
  FROM generate_series(1, 2000) i;
CREATE INDEX ON testkit.places USING gist (location);
CREATE INDEX ON testkit.places USING hnsw (embedding vector_l2_ops);
CREATE INDEX ON testkit.places USING gin ((name::text) gin_trgm_ops);
CREATE INDEX ON testkit.places USING gin (search);
CREATE INDEX ON testkit.places USING gin (attributes);

-- Bookings: no two bookings of a place overlap (btree_gist exclusion over tstzrange).
CREATE TABLE testkit.bookings (
  booking_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  place_id integer NOT NULL REFERENCES testkit.places,
  during tstzrange NOT NULL,
  EXCLUDE USING gist (place_id WITH =, during WITH &&)
);
INSERT INTO testkit.bookings (place_id, during)
SELECT 1 + i % 200, tstzrange(TIMESTAMPTZ '2026-01-01' + make_interval(hours => 2 * (i / 200)),
                              TIMESTAMPTZ '2026-01-01' + make_interval(hours => 2 * (i / 200) + 1))
  FROM generate_series(0, 3999) i;

-- A road network: a 10 x 10 grid (pgRouting), costs in metres.
CREATE TABLE testkit.roads (
  id integer PRIMARY KEY,
  source integer NOT NULL,
  target integer NOT NULL,
  cost double precision NOT NULL,
  reverse_cost double precision NOT NULL,
  geom geometry(LineString, 4326) NOT NULL
);
INSERT INTO testkit.roads
SELECT row_number() OVER ()::integer, a, b, len, len,
       ST_MakeLine(ST_MakePoint(10.6 + (a - 1) % 10 * 0.03, 59.8 + (a - 1) / 10 * 0.03),
                   ST_MakePoint(10.6 + (b - 1) % 10 * 0.03, 59.8 + (b - 1) / 10 * 0.03))
  FROM (SELECT n AS a, n + 1 AS b, 1700.0 + (n % 7) * 100 AS len FROM generate_series(1, 100) n WHERE n % 10 <> 0
        UNION ALL
        SELECT n, n + 10, 3300.0 + (n % 5) * 100 FROM generate_series(1, 90) n) edges;
CREATE INDEX ON testkit.roads USING gist (geom);

-- Sensor readings: a daily range-partitioned time series managed by pg_partman
-- (the last 7 days and 3 days ahead; older rows would land in the default partition).
CREATE TABLE testkit.readings (
  sensor_id integer NOT NULL,
  taken_at timestamptz NOT NULL,
  value double precision NOT NULL,
  PRIMARY KEY (sensor_id, taken_at)
) PARTITION BY RANGE (taken_at);
SELECT @PARTMAN@.create_parent(
  p_parent_table := 'testkit.readings', p_control := 'taken_at', p_interval := '1 day',
  p_premake := 3, p_start_partition := to_char(date_trunc('day', now()) - interval '7 days', 'YYYY-MM-DD HH24:MI:SS'));
INSERT INTO testkit.readings
SELECT 1 + i % 20, date_trunc('day', now()) - interval '7 days' + make_interval(mins => 10 * (i / 20)), 20 + 5 * random()
  FROM generate_series(0, 20 * 6 * 24 * 7 - 1) i;

