using System.Data.Common;
using System.Text;
using IfApi.Store;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace IfApi.Tests;

/// <summary>
/// Everything a store holds, as text: every row of every table (sorted) and, on PostgreSQL, where every
/// sequence stands. Two dumps are equal exactly when nothing in the store changed. An event's
/// <c>pos</c> is left out: the sequencer stamps it in the background, after the commit that wrote it.
/// A logical dump keeps what a client could ever tell apart: free units as sets rather than rows, and
/// no sequences (an event's insertion number, which a rolled-back insert spends, is never shown).
/// </summary>
public static class StoreDump
{
    public static async Task<string> TakeAsync(StoreFixture store, bool logical = false)
    {
        await using DbConnection conn = store.Provider == StoreProvider.Postgres
            ? new NpgsqlConnection(store.ConnectionString)
            : new SqliteConnection(store.ConnectionString);
        await conn.OpenAsync();
        var tables = await ColumnAsync(conn, store.Provider == StoreProvider.Postgres
            ? "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            : "SELECT name FROM sqlite_master WHERE type = 'table'");
        var dump = new StringBuilder();
        foreach (var table in tables.Order(StringComparer.Ordinal))
        {
            if (logical && table is "unit_pools" or "free_units")
                continue;
            dump.Append("== ").AppendLine(table);
            foreach (var row in (await RowsAsync(conn, $"SELECT * FROM \"{table}\"", skip: "pos")).Order(StringComparer.Ordinal))
                dump.AppendLine(row);
        }
        if (logical)
        {
            dump.AppendLine("== free units");
            foreach (var pool in await FreeUnitsAsync(conn))
                dump.AppendLine(pool);
        }
        else if (store.Provider == StoreProvider.Postgres)
        {
            dump.AppendLine("== sequences");
            foreach (var row in (await RowsAsync(conn, "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")).Order(StringComparer.Ordinal))
                dump.AppendLine(row);
        }
        return dump.ToString();
    }

    /// <summary>
    /// Each pool's free units as ranges, however they are kept: listed one by one, or as the part of
    /// the pool nobody has claimed yet. A pool grows its list in a transaction of its own (so creates
    /// need not wait for each other's commits), which a create that is refused afterwards leaves in place.
    /// </summary>
    private static async Task<List<string>> FreeUnitsAsync(DbConnection conn)
    {
        var free = new SortedDictionary<string, SortedSet<long>>(StringComparer.Ordinal);
        var tails = new Dictionary<string, (long Fresh, long Hi)>();
        foreach (var row in await RowsAsync(conn, "SELECT pool, fresh, hi FROM unit_pools"))
        {
            var f = row.Split('|');
            tails[f[0]] = (long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture), long.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture));
            free.TryAdd(f[0], []);
        }
        foreach (var row in await RowsAsync(conn, "SELECT pool, unit FROM free_units"))
        {
            var f = row.Split('|');
            if (!free.TryGetValue(f[0], out var set))
                free[f[0]] = set = [];
            set.Add(long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        var lines = new List<string>();
        foreach (var (pool, units) in free)
        {
            var ranges = new List<(long Lo, long Hi)>();
            foreach (var u in units)
                if (ranges.Count > 0 && ranges[^1].Hi == u - 1)
                    ranges[^1] = (ranges[^1].Lo, u);
                else
                    ranges.Add((u, u));
            if (tails.TryGetValue(pool, out var tail) && tail.Fresh <= tail.Hi)
            {
                if (ranges.Count > 0 && ranges[^1].Hi == tail.Fresh - 1)
                    ranges[^1] = (ranges[^1].Lo, tail.Hi);
                else
                    ranges.Add((tail.Fresh, tail.Hi));
            }
            lines.Add(pool + ": " + string.Join(",", ranges.Select(r => r.Lo == r.Hi ? $"{r.Lo}" : $"{r.Lo}-{r.Hi}")));
        }
        return lines;
    }

    /// <summary>A dump once the store is still: events committed before it are numbered, nothing moves for a moment.</summary>
    public static async Task<string> SettledAsync(StoreFixture store, bool logical = false)
    {
        var last = await TakeAsync(store, logical);
        for (var i = 0; i < 50; i++)
        {
            await Task.Delay(100);
            var now = await TakeAsync(store, logical);
            if (now == last)
                return now;
            last = now;
        }
        throw new TimeoutException("the store kept changing for 5 s");
    }

    /// <summary>The lines of <paramref name="after"/> that <paramref name="before"/> lacks, and the reverse: what a failure shows.</summary>
    public static string Diff(string before, string after)
    {
        var (a, b) = (before.Split('\n').ToHashSet(), after.Split('\n').ToHashSet());
        return "gone: " + string.Join(" | ", a.Except(b)) + "\nnew: " + string.Join(" | ", b.Except(a));
    }

    private static async Task<List<string>> ColumnAsync(DbConnection conn, string sql) =>
        (await RowsAsync(conn, sql)).ConvertAll(r => r.TrimEnd('|'));

    private static async Task<List<string>> RowsAsync(DbConnection conn, string sql, string? skip = null)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            var row = new StringBuilder();
            for (var i = 0; i < reader.FieldCount; i++)
                if (!string.Equals(reader.GetName(i), skip, StringComparison.OrdinalIgnoreCase))
                    row.Append(reader.IsDBNull(i) ? "∅" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)).Append('|');
            rows.Add(row.ToString());
        }
        return rows;
    }
}
