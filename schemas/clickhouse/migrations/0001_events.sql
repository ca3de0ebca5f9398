-- Every version of every event: the raw event as version 0 (so it can be read
-- before enrichment finishes) and each enrichment as version
-- enrichment_version. ReplacingMergeTree(version) keeps the highest version per
-- sort key, and the sort key is a function of the id alone, so replays,
-- duplicate Kafka deliveries and client retries of one uuid all collapse to
-- one row. Until background merges catch up, readers take the newest version
-- themselves (FINAL, or ORDER BY version DESC LIMIT 1).
--
-- Sort key (id_time, id): id_time is the Unix millisecond timestamp carried in
-- a UUIDv7 id (0 for ids of other versions, e.g. client-supplied v4). A lookup
-- by id is then a primary-key point lookup, and because server-assigned ids
-- are time-ordered, new rows append at the end of the key space and rows of
-- one period sit together, which keeps merges cheap and time scans local.
-- (ClickHouse orders the UUID type by its second half, so sorting by id alone
-- would scatter UUIDv7 ids; id_time restores their time order.)
--
-- Works on ClickHouse 18.16 and current releases: no DateTime64 (received_ms
-- keeps the milliseconds), no LowCardinality, no TTL or skip indexes.
CREATE TABLE IF NOT EXISTS events
(
    id            UUID,
    id_time       UInt64,
    version       UInt32,
    name          String,
    data          String,
    received_at   DateTime('UTC'),
    received_ms   UInt64,
    source_ip     String,
    user_agent    String,
    city          Nullable(String),
    country_iso   Nullable(String),
    country_name  Nullable(String),
    latitude      Nullable(Float64),
    longitude     Nullable(Float64),
    geo_source    String,
    geo_database  String,
    geo_status    String,
    enriched_ms   UInt64,
    loaded_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDateTime(intDiv(id_time, 1000), 'UTC'))
ORDER BY (id_time, id);

-- What analysts query: one row per event, its newest version, with the API's
-- field names. raw-only events show geo_status 'pending'.
CREATE VIEW IF NOT EXISTS events_latest AS
SELECT
    id AS uuid,
    name,
    data,
    received_at AS datetime_created,
    received_ms,
    source_ip,
    user_agent,
    city,
    country_iso,
    country_name,
    latitude,
    longitude,
    if(version = 0, 'pending', geo_status) AS geo_status,
    geo_source,
    geo_database,
    version AS enrichment_version,
    enriched_ms
FROM events FINAL;
