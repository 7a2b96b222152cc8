using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace IfApi.Store;

/// <summary>
/// PostgreSQL's path for the two commonest writes: a wildcard create on a one-interface cloner
/// (<c>tap</c>, <c>bridge</c>, <c>lo</c>, plain <c>vlan</c>) and the destroy of such a clone. Each is one
/// round trip: a lock statement and one data-modifying statement, sent together and run by the server
/// as one implicit transaction, so either all of it commits or none of it does, its event included.
/// <para>
/// Why: every allocator on a pool queues on that pool's lowest free run, so the pool's throughput is
/// one over the time a transaction holds that run. On the locked path that time includes several
/// round trips to this process; here it is the server's own work and the commit, nothing more.
/// </para>
/// <para>
/// How it stays exact:
/// <list type="bullet">
/// <item>It takes the pools' advisory locks in shared mode. Fast transactions share a pool; the locked
/// path (<see cref="TransactionRunner.LockAsync"/>) takes them exclusively, so it never interleaves
/// with this one and keeps its read-then-write logic. Locks are taken by a statement of their own,
/// so the data statement's snapshot is taken after they are held.</item>
/// <item>Among fast transactions the row locks on <c>free_ranges</c> order everything. A free run is
/// picked with <c>FOR UPDATE</c>, which returns the run as the previous holder left it (or the next
/// run, when the previous holder used it up), and the take is computed from those values. A freed
/// unit extends the run next to it when there is one, which row locks make safe, and becomes a run
/// of its own otherwise; adjacent runs are allowed and the locked path joins them when it passes.</item>
/// <item>Row locks are always taken in the same order, the cloner's pool before the index pool, by
/// making each index step depend on the unit step's result: two fast transactions cannot deadlock.</item>
/// <item>Anything it does not handle makes it decline, and the caller runs the locked path, which
/// gives the right answer or error: no free unit (ENOSPC), a unit whose name another interface holds
/// (the kernel skips it), a cloner detached or attached anew since it was read, an interface that has
/// the wildcard name itself (EEXIST), an epair, a dotted vlan, a minIfs unit, an unknown name, an
/// interface in a group a group call put it in. A missing unit or index makes the insert's NOT NULL
/// columns fail, which rolls back the whole statement, so nothing is ever half taken.</item>
/// </list>
/// </para>
/// The bench replays <see cref="CreateSql"/> and <see cref="DestroyByNameSql"/> with pgbench as its reference.
/// </summary>
public sealed class PgFastPath(StoreOptions options, ILogger<PgFastPath> log)
{
    private readonly string _connectionString = options.Provider == StoreProvider.Postgres
        ? StoreSetup.PostgresConnectionString(options.ConnectionString) : "";

    private long _creates, _destroys, _declines;

    /// <summary>Whether this store has the fast path (PostgreSQL only; SQLite has a single writer anyway).</summary>
    public bool Enabled => options.Provider == StoreProvider.Postgres;

    /// <summary>Creates and destroys done here, and attempts declined to the locked path, since start.</summary>
    public (long Creates, long Destroys, long Declines) Counts =>
        (Interlocked.Read(ref _creates), Interlocked.Read(ref _destroys), Interlocked.Read(ref _declines));

    internal const string CreateLockSql =
        "SELECT pg_advisory_xact_lock_shared(hashtext(@cloner)), pg_advisory_xact_lock_shared(hashtext('#ifindex'))";

    internal const string CreateSql = """
        WITH upick AS (
            SELECT f.id, f.lo, f.hi FROM free_ranges AS f
            WHERE f.pool = @cloner AND EXISTS (SELECT FROM cloners AS c WHERE c.name = @cloner AND c.seq = @seq)
              AND NOT EXISTS (SELECT FROM interfaces AS i WHERE i.name = @cloner)
            ORDER BY f.hi LIMIT 1 FOR UPDATE OF f
        ), utake AS (
            UPDATE free_ranges AS f SET lo = p.lo + 1 FROM upick AS p WHERE f.id = p.id AND p.lo < p.hi RETURNING p.lo AS n
        ), uempty AS (
            DELETE FROM free_ranges AS f USING upick AS p WHERE f.id = p.id AND p.lo = p.hi RETURNING p.lo AS n
        ), unit AS (
            SELECT n FROM utake UNION ALL SELECT n FROM uempty
        ), xpick AS (
            SELECT f.id, f.lo, f.hi FROM free_ranges AS f
            WHERE f.pool = '#ifindex' AND EXISTS (SELECT FROM unit)
            ORDER BY f.hi LIMIT 1 FOR UPDATE OF f
        ), xtake AS (
            UPDATE free_ranges AS f SET lo = p.lo + 1 FROM xpick AS p WHERE f.id = p.id AND p.lo < p.hi RETURNING p.lo AS n
        ), xempty AS (
            DELETE FROM free_ranges AS f USING xpick AS p WHERE f.id = p.id AND p.lo = p.hi RETURNING p.lo AS n
        ), idx AS (
            SELECT n FROM xtake UNION ALL SELECT n FROM xempty
        ), ins AS (
            INSERT INTO interfaces (id, cloner, created_at, flags, if_index, kind, lladdr, metric, mtu, name, unit, version)
            SELECT @id, @cloner, @now, @flags, x.n, @kind, @lladdr, 0, @mtu, @cloner || u.n, u.n, 1
            FROM (SELECT 1) AS one LEFT JOIN unit AS u ON true LEFT JOIN idx AS x ON true
            RETURNING id, if_index, unit, name
        ), grp AS (
            INSERT INTO group_members (interface_id, group_name) SELECT ins.id, g FROM ins CROSS JOIN unnest(@groups) AS g
        ), ev AS (
            INSERT INTO events (at, type, interface_id, subject, actor, data)
            SELECT clock_timestamp(), 'interface-arrival', ins.id, ins.name, @actor, json_build_object(
                'id', ins.id, 'name', ins.name, 'index', ins.if_index, 'kind', @kind, 'cloner', @cloner, 'unit', ins.unit,
                'groups', to_json(@groups))::text
            FROM ins
        )
        SELECT if_index, unit FROM ins
        """;

    /// <summary>Locks the pools of the interface named <c>@ref</c> and notes which interface that was, for <see cref="DestroySql"/>.</summary>
    internal const string DestroyLockByNameSql = DestroyLockSelect + " WHERE i.name = @ref AND i.cloner IS NOT NULL" + DestroyLockRow;

    internal const string DestroyLockByIdSql = DestroyLockSelect + " WHERE i.id = @id AND i.cloner IS NOT NULL" + DestroyLockRow;

    // The row is locked first, by the inner select, before the outer one takes the pools' locks, as
    // everyone who locks rows and groups does (see StoreDialect.LockRowsAsync): a group call on this
    // interface waits for the destroy, or the destroy waits for it and then finds the group and
    // declines. A row renamed meanwhile no longer matches, and nothing is noted for the delete.
    private const string DestroyLockSelect =
        "SELECT set_config('ifapi.destroy', i.id::text, true), pg_advisory_xact_lock_shared(hashtext(i.cloner)), " +
        "pg_advisory_xact_lock_shared(hashtext('#ifindex')) FROM (SELECT i.id, i.cloner FROM interfaces AS i";

    private const string DestroyLockRow = " FOR UPDATE) AS i";

    /// <summary>
    /// Deletes exactly the interface whose pools the lock statement locked (its group memberships go
    /// by the foreign key's cascade), frees its unit and its index, and announces its departure with
    /// the groups it left. It declines an interface in a group other than the ones creation put it in
    /// (<c>all</c>, its cloner's): leaving such a group is announced, under the group's lock, by the locked path.
    /// So is a bridge member's destroy: its bridge's member list changes, and with it the bridge's version.
    /// </summary>
    internal const string DestroySql = """
        WITH d AS (
            DELETE FROM interfaces AS i USING cloners AS c
            WHERE i.id = nullif(current_setting('ifapi.destroy', true), '')::uuid
              AND c.name = i.cloner AND i.unit >= c.min_ifs AND i.peer_id IS NULL AND i.bridge_id IS NULL
              AND NOT EXISTS (SELECT FROM group_members AS g
                              WHERE g.interface_id = i.id AND g.group_name <> 'all' AND (g.group_name <> c.name OR c.no_group))
            RETURNING i.id, i.name, i.cloner AS pool, i.unit AS n, i.if_index AS x
        ), ev AS (
            INSERT INTO events (at, type, interface_id, subject, actor, data)
            SELECT clock_timestamp(), 'interface-departure', d.id, d.name, @actor, json_build_object(
                'id', d.id, 'name', d.name, 'index', d.x, 'cloner', d.pool, 'unit', d.n,
                'groups', (SELECT coalesce(json_agg(g.group_name ORDER BY g.group_name <> 'all', g.group_name COLLATE "C"), '[]')
                           FROM group_members AS g WHERE g.interface_id = d.id))::text
            FROM d
        ), ul AS (
            UPDATE free_ranges AS f SET hi = d.n FROM d WHERE f.pool = d.pool AND f.hi = d.n - 1 RETURNING 1
        ), ur AS (
            UPDATE free_ranges AS f SET lo = d.n FROM d WHERE f.pool = d.pool AND f.lo = d.n + 1 AND NOT EXISTS (SELECT FROM ul) RETURNING 1
        ), un AS (
            INSERT INTO free_ranges (pool, lo, hi) SELECT d.pool, d.n, d.n FROM d
            WHERE NOT EXISTS (SELECT FROM ul) AND NOT EXISTS (SELECT FROM ur) RETURNING 1
        ), ufreed AS (
            SELECT 1 FROM ul UNION ALL SELECT 1 FROM ur UNION ALL SELECT 1 FROM un
        ), xl AS (
            UPDATE free_ranges AS f SET hi = d.x FROM d
            WHERE f.pool = '#ifindex' AND f.hi = d.x - 1 AND EXISTS (SELECT FROM ufreed) RETURNING 1
        ), xr AS (
            UPDATE free_ranges AS f SET lo = d.x FROM d
            WHERE f.pool = '#ifindex' AND f.lo = d.x + 1 AND EXISTS (SELECT FROM ufreed) AND NOT EXISTS (SELECT FROM xl) RETURNING 1
        ), xn AS (
            INSERT INTO free_ranges (pool, lo, hi) SELECT '#ifindex', d.x, d.x FROM d
            WHERE EXISTS (SELECT FROM ufreed) AND NOT EXISTS (SELECT FROM xl) AND NOT EXISTS (SELECT FROM xr) RETURNING 1
        )
        SELECT d.id, d.pool FROM d
        """;

    private static readonly Positional CreateLock = new(CreateLockSql);
    private static readonly Positional Create = new(CreateSql);
    private static readonly Positional DestroyLockByName = new(DestroyLockByNameSql);
    private static readonly Positional DestroyLockById = new(DestroyLockByIdSql);
    private static readonly Positional Destroy = new(DestroySql);

    /// <summary>
    /// A statement written with <c>@name</c> parameters (readable, and what the benchmark's pgbench
    /// script substitutes) sent with positional <c>$n</c> ones, so the driver does not parse and
    /// rewrite a long statement on every execution.
    /// </summary>
    private sealed class Positional
    {
        private readonly string _sql;
        private readonly List<string> _order = [];

        public Positional(string named)
        {
            // A scan, not a regular expression: the service would load the regex engine for this alone.
            var sql = new System.Text.StringBuilder(named.Length);
            for (var at = 0; at < named.Length;)
            {
                var end = at + 1;
                while (named[at] == '@' && end < named.Length && named[end] is >= 'a' and <= 'z')
                    end++;
                if (end == at + 1)
                {
                    sql.Append(named[at++]);
                    continue;
                }
                var name = named[(at + 1)..end];
                var i = _order.IndexOf(name);
                if (i < 0)
                {
                    _order.Add(name);
                    i = _order.Count - 1;
                }
                sql.Append('$').Append(i + 1);
                at = end;
            }
            _sql = sql.ToString();
        }

        public NpgsqlBatchCommand Command(Dictionary<string, NpgsqlParameter> values)
        {
            var command = new NpgsqlBatchCommand(_sql);
            foreach (var name in _order)
                command.Parameters.Add(values[name]);
            return command;
        }
    }

    /// <summary>One wildcard create, as <see cref="CreateSql"/> takes it.</summary>
    public sealed record CreateRequest(Guid Id, string Cloner, long ClonerSeq, string Kind, int Flags, int Mtu,
        string? Lladdr, string[] Groups, DateTimeOffset CreatedAt);

    /// <summary>The index and unit the create took, or null when it declined and nothing was written.</summary>
    public async Task<(int Index, int Unit)?> TryCreateAsync(CreateRequest r, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        if (connection is null)
            return null;
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(CreateLock.Command(new() { ["cloner"] = new NpgsqlParameter<string>{ TypedValue = r.Cloner, NpgsqlDbType = NpgsqlDbType.Text } }));
        batch.BatchCommands.Add(Create.Command(new()
        {
            ["cloner"] = new NpgsqlParameter<string> { TypedValue = r.Cloner, NpgsqlDbType = NpgsqlDbType.Text },
            ["seq"] = new NpgsqlParameter<long> { TypedValue = r.ClonerSeq, NpgsqlDbType = NpgsqlDbType.Bigint },
            ["id"] = new NpgsqlParameter<Guid> { TypedValue = r.Id, NpgsqlDbType = NpgsqlDbType.Uuid },
            ["now"] = new NpgsqlParameter<DateTimeOffset> { TypedValue = r.CreatedAt, NpgsqlDbType = NpgsqlDbType.TimestampTz },
            ["flags"] = new NpgsqlParameter<int> { TypedValue = r.Flags, NpgsqlDbType = NpgsqlDbType.Integer },
            ["kind"] = new NpgsqlParameter<string> { TypedValue = r.Kind, NpgsqlDbType = NpgsqlDbType.Text },
            ["lladdr"] = new NpgsqlParameter { Value = (object?)r.Lladdr ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text },
            ["mtu"] = new NpgsqlParameter<int> { TypedValue = r.Mtu, NpgsqlDbType = NpgsqlDbType.Integer },
            ["groups"] = new NpgsqlParameter<string[]> { TypedValue = r.Groups, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
            ["actor"] = Actor(),
        }));
        var took = await RunAsync<(int, int)?>(batch, async reader =>
        {
            await reader.NextResultAsync(ct); // the lock statement's row
            return await reader.ReadAsync(ct) ? (reader.GetInt32(0), reader.GetInt32(1)) : null;
        }, "create", ct);
        Interlocked.Increment(ref took is null ? ref _declines : ref _creates);
        return took;
    }

    /// <summary>The id and cloner of the interface destroyed; null when it declined and nothing was written.</summary>
    public async Task<(Guid Id, string Cloner)?> TryDestroyAsync(string reference, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        if (connection is null)
            return null;
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(Guid.TryParse(reference, out var id)
            ? DestroyLockById.Command(new() { ["id"] = new NpgsqlParameter<Guid> { TypedValue = id, NpgsqlDbType = NpgsqlDbType.Uuid } })
            : DestroyLockByName.Command(new() { ["ref"] = new NpgsqlParameter<string> { TypedValue = reference, NpgsqlDbType = NpgsqlDbType.Text } }));
        batch.BatchCommands.Add(Destroy.Command(new() { ["actor"] = Actor() }));
        var done = await RunAsync(batch, async reader =>
        {
            await reader.NextResultAsync(ct);
            return await reader.ReadAsync(ct) ? (reader.GetGuid(0), reader.GetString(1)) : ((Guid, string)?)null;
        }, "destroy", ct);
        Interlocked.Increment(ref done is not null ? ref _destroys : ref _declines);
        return done;
    }

    /// <summary>The key making the change, for the event the statement writes (see <see cref="ChangeActor"/>).</summary>
    private static NpgsqlParameter Actor() => new() { Value = (object?)ChangeActor.Current ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };

    private async Task<NpgsqlConnection?> OpenAsync(CancellationToken ct)
    {
        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct);
        }
        catch (Exception e) when (TransactionRunner.IsUnreachable(e))
        {
            // Nothing was sent: the locked path retries and reports the outage.
            await connection.DisposeAsync();
            return null;
        }
        return connection;
    }

    private async Task<T> RunAsync<T>(NpgsqlBatch batch, Func<NpgsqlDataReader, Task<T>> read, string what, CancellationToken ct)
    {
        try
        {
            await using var reader = await batch.ExecuteReaderAsync(ct);
            var result = await read(reader);
            // The implicit transaction commits when the batch completes; a failure there surfaces
            // while the reader finishes, so finish it before answering.
            while (await reader.NextResultAsync(ct))
            {
            }
            return result;
        }
        catch (PostgresException e) when (Declines(e.SqlState))
        {
            log.LogDebug("fast {What} declined ({SqlState}: {Message}); taking the locked path", what, e.SqlState, e.MessageText);
            return default!;
        }
        catch (Exception e) when (TransactionRunner.IsUnreachable(e))
        {
            NpgsqlConnection.ClearAllPools();
            // The statements were sent: whether they committed is unknown.
            throw new StoreUnavailableException($"the store failed during a {what}", e);
        }
    }

    /// <summary>Failures that roll the statement back and that the locked path answers properly.</summary>
    private static bool Declines(string sqlState) => sqlState is PostgresErrorCodes.NotNullViolation
        or PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ForeignKeyViolation
        or PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected;
}
