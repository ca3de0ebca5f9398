-- A copy of every located event version sorted by place, so that latitude
-- and longitude box searches read the few granules of the box instead of the
-- whole events table (and without FINAL, which ClickHouse 18.16 runs on one
-- thread). Over 10M rows a 10°×10° box went from ~2.5 s to ~70 ms.
--
-- lat_cell/lon_cell are the whole degrees below the coordinates, so the key
-- (lat_cell, lon_cell, ...) keeps each one-degree band of latitude together
-- and, inside it, orders rows by longitude: a box's cell ranges prune on
-- both. The table keeps old versions too (a replay can move an event to
-- another cell, where no merge will replace it): readers keep a candidate
-- only when events holds no newer version of it (query/internal/store).
--
-- Written by the materialized view on every insert into events; only rows
-- with a location are copied. latitude and longitude stay Nullable (though
-- never NULL here): ClickHouse resolves a WHERE name to a SELECT alias first,
-- so selecting assumeNotNull(latitude) AS latitude would turn the view's
-- latitude IS NOT NULL into a test of the alias, always true. Analysts should query events_latest; this is
-- an index for the API, not a second source of truth.
CREATE TABLE IF NOT EXISTS events_geo
(
    lat_cell      Int16,
    lon_cell      Int16,
    id_time       UInt64,
    id            UUID,
    version       UInt32,
    received_ms   UInt64,
    name          String,
    city          Nullable(String),
    country_iso   Nullable(String),
    country_name  Nullable(String),
    latitude      Nullable(Float64),
    longitude     Nullable(Float64)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDateTime(intDiv(id_time, 1000), 'UTC'))
ORDER BY (lat_cell, lon_cell, id_time, id);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_geo_writer TO events_geo AS
SELECT
    toInt16(floor(assumeNotNull(latitude))) AS lat_cell,
    toInt16(floor(assumeNotNull(longitude))) AS lon_cell,
    id_time, id, version, received_ms, name, city, country_iso, country_name, latitude, longitude
FROM events
WHERE latitude IS NOT NULL AND longitude IS NOT NULL;

-- Backfill what events held before the view existed. It runs after the view
-- is created, so no insert falls between the two; rows copied twice (by a
-- concurrent insert, or by a rerun after a crash) are harmless: readers count
-- each event once. On a large table this takes a while (10M rows: ~8 s).
INSERT INTO events_geo
SELECT
    toInt16(floor(assumeNotNull(latitude))) AS lat_cell,
    toInt16(floor(assumeNotNull(longitude))) AS lon_cell,
    id_time, id, version, received_ms, name, city, country_iso, country_name, latitude, longitude
FROM events
WHERE latitude IS NOT NULL AND longitude IS NOT NULL;
