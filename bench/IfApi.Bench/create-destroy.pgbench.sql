-- The SQL that one HTTP create of "tap" and one destroy of the interface it made send, statement
-- for statement and round trip for round trip (the batch EF writes at SaveChanges is one "\;"
-- compound query here). pgbench replays it as the reference for the HTTP figures.
-- Variables: :tapkey and :idxkey are the advisory-lock keys of the "tap" and ifindex pools.

-- create: POST /v1/interfaces {"name":"tap"}
BEGIN;
SELECT c.seq, c.attached_at, c.kind, c.max_unit, c.min_ifs, c.name, c.no_group, EXISTS (SELECT 1 FROM interfaces AS i WHERE i.name = 'tap') AS "Taken" FROM cloners AS c ORDER BY c.seq DESC;
SELECT pg_advisory_xact_lock(:tapkey);
SELECT f.id AS uid, f.hi AS uhi, f.lo AS ulo, f.pool AS upool, EXISTS (SELECT 1 FROM interfaces AS i WHERE i.name = 'tap' || CAST(CASE WHEN f.lo > 0 THEN f.lo ELSE 0 END AS text)) AS uheld
  FROM free_ranges AS f WHERE f.pool = 'tap' AND f.hi >= 0 ORDER BY f.hi LIMIT 1 \gset
SELECT pg_advisory_xact_lock(:idxkey);
SELECT f.id AS xid, f.hi AS xhi, f.lo AS xlo, f.pool AS xpool FROM free_ranges AS f WHERE f.pool = '#ifindex' AND f.hi >= 0 ORDER BY f.hi LIMIT 1 \gset
UPDATE free_ranges SET lo = :ulo + 1 WHERE id = :uid AND :ulo < :uhi \;
DELETE FROM free_ranges WHERE id = :uid AND :ulo = :uhi \;
UPDATE free_ranges SET lo = :xlo + 1 WHERE id = :xid AND :xlo < :xhi \;
DELETE FROM free_ranges WHERE id = :xid AND :xlo = :xhi \;
INSERT INTO interfaces (id, cloner, created_at, description, flags, if_index, kind, lladdr, metric, mtu, name, parent_id, peer_id, unit, version, vlan_tag)
  VALUES (gen_random_uuid(), 'tap', now(), NULL, 34818, :xlo, 'tap', 'f2:0b:a4:00:00:01', 0, 1500, 'tap' || :ulo, NULL, NULL, :ulo, 1, NULL) \;
INSERT INTO group_members (group_name, interface_id) SELECT 'all', id FROM interfaces WHERE if_index = :xlo \;
INSERT INTO group_members (group_name, interface_id) SELECT 'tap', id FROM interfaces WHERE if_index = :xlo;
COMMIT;

-- destroy: DELETE /v1/interfaces/tapN
BEGIN;
SELECT i.id AS did, i.name AS "Name", i.cloner AS "Cloner", i.unit AS dunit, i.if_index AS didx, i.peer_id AS "PeerId",
       (SELECT i0.if_index FROM interfaces AS i0 WHERE i0.id = i.peer_id LIMIT 1) AS "PeerIndex",
       (SELECT c.min_ifs FROM cloners AS c WHERE c.name = i.cloner LIMIT 1) AS "MinIfs"
  FROM interfaces AS i WHERE i.name = 'tap' || :ulo LIMIT 1 \gset
SELECT pg_advisory_xact_lock(:tapkey);
DELETE FROM interfaces AS i WHERE i.id = ANY (ARRAY[':did'::uuid]);
SELECT coalesce(max(f.id) FILTER (WHERE f.hi = :dunit - 1), 0) AS ulid, coalesce(max(f.lo) FILTER (WHERE f.hi = :dunit - 1), 0) AS ullo,
       coalesce(max(f.id) FILTER (WHERE f.lo = :dunit + 1), 0) AS urid, coalesce(max(f.hi) FILTER (WHERE f.lo = :dunit + 1), 0) AS urhi
  FROM free_ranges AS f WHERE f.pool = 'tap' AND (f.hi = :dunit - 1 OR f.lo = :dunit + 1) \gset
SELECT pg_advisory_xact_lock(:idxkey);
SELECT coalesce(max(f.id) FILTER (WHERE f.hi = :didx - 1), 0) AS xlid, coalesce(max(f.lo) FILTER (WHERE f.hi = :didx - 1), 0) AS xllo,
       coalesce(max(f.id) FILTER (WHERE f.lo = :didx + 1), 0) AS xrid, coalesce(max(f.hi) FILTER (WHERE f.lo = :didx + 1), 0) AS xrhi
  FROM free_ranges AS f WHERE f.pool = '#ifindex' AND (f.hi = :didx - 1 OR f.lo = :didx + 1) \gset
UPDATE free_ranges SET hi = CASE WHEN :urid <> 0 THEN :urhi ELSE :dunit END WHERE id = :ulid AND :ulid <> 0 \;
DELETE FROM free_ranges WHERE id = :urid AND :urid <> 0 AND :ulid <> 0 \;
UPDATE free_ranges SET lo = :dunit WHERE id = :urid AND :urid <> 0 AND :ulid = 0 \;
INSERT INTO free_ranges (pool, lo, hi) SELECT 'tap', :dunit, :dunit WHERE :ulid = 0 AND :urid = 0 \;
UPDATE free_ranges SET hi = CASE WHEN :xrid <> 0 THEN :xrhi ELSE :didx END WHERE id = :xlid AND :xlid <> 0 \;
DELETE FROM free_ranges WHERE id = :xrid AND :xrid <> 0 AND :xlid <> 0 \;
UPDATE free_ranges SET lo = :didx WHERE id = :xrid AND :xrid <> 0 AND :xlid = 0 \;
INSERT INTO free_ranges (pool, lo, hi) SELECT '#ifindex', :didx, :didx WHERE :xlid = 0 AND :xrid = 0;
COMMIT;
