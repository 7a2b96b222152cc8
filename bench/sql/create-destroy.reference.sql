-- The reference for the create+destroy benchmark: what one create of a tap and its destroy write,
-- run by pgbench on the service's own tables with no lock shared between clients. PostgreSQL's
-- rate for it is the ceiling the service is measured against (bench/IfApi.Bench, part "create").
--   create:  the interface row, its two group memberships (all, tap), its arrival event;
--   destroy: the row (its memberships go with it, by the foreign key's cascade), its departure event.
-- The index comes from a sequence and the name from it, where the service finds the lowest free
-- unit and index: that search, and anything else the service does, is what the ratio measures.
-- Variables the benchmark passes: :flags and :mtu (a tap's defaults). Run with -M prepared; no literal
-- may hold a colon before a letter, which pgbench would take for a variable.
BEGIN;
INSERT INTO interfaces (id, if_index, name, kind, cloner, unit, flags, mtu, metric, lladdr, created_at, version)
VALUES (gen_random_uuid(), nextval('reference_index'), 'r' || currval('reference_index'), 'tap', 'tap',
        currval('reference_index') % 32768, :flags, :mtu, 0, replace('f2-0b-a4-00-00-01', '-', ':'), now(), 1)
RETURNING id, name, if_index, unit \gset
INSERT INTO group_members (interface_id, group_name) VALUES (:id, 'all'), (:id, 'tap');
INSERT INTO events (at, type, interface_id, subject, actor, data)
VALUES (clock_timestamp(), 'interface-arrival', :id, :name, 'bench',
        '{"id":"' || :id || '","name":"' || :name || '","index":' || :if_index || ',"kind":"tap","cloner":"tap","unit":' || :unit || ',"groups":["all","tap"]}');
COMMIT;
BEGIN;
DELETE FROM interfaces WHERE id = :id;
INSERT INTO events (at, type, interface_id, subject, actor, data)
VALUES (clock_timestamp(), 'interface-departure', :id, :name, 'bench',
        '{"id":"' || :id || '","name":"' || :name || '","index":' || :if_index || ',"cloner":"tap","unit":' || :unit || ',"groups":["all","tap"]}');
COMMIT;
