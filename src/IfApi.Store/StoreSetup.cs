using IfApi.Domain;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IfApi.Store;

public static class StoreSetup
{
    /// <summary>Each provider's migrations live in their own assembly under <c>migrations/</c>.</summary>
    public static string MigrationsAssembly(StoreProvider provider) => $"IfApi.Migrations.{provider}";

    /// <remarks>
    /// An interface is read with two small collections (its groups, a bridge's members) in one
    /// query: one round trip, and the rows it multiplies are few. Saying so keeps EF from warning
    /// about it on every new query.
    /// </remarks>
    public static DbContextOptionsBuilder<IfDbContext> Configure(DbContextOptionsBuilder<IfDbContext> b, StoreOptions o) =>
        o.Provider switch
        {
            StoreProvider.Postgres => b.UseNpgsql(PostgresConnectionString(o.ConnectionString), n => n
                .MigrationsAssembly(MigrationsAssembly(o.Provider)).UseQuerySplittingBehavior(QuerySplittingBehavior.SingleQuery)),
            _ => b.UseSqlite(o.ConnectionString, s => s
                .MigrationsAssembly(MigrationsAssembly(o.Provider)).UseQuerySplittingBehavior(QuerySplittingBehavior.SingleQuery)),
        };

    /// <summary>
    /// The store's connections. Every transaction runs the same few statements: preparing them once
    /// per connection saves the server a parse and plan each time (<c>Max Auto Prepare</c>). And no
    /// transaction leaves state on its session (no SET, no session lock, no LISTEN: the event listener
    /// has a connection of its own outside the pool), so a connection back in the pool needs no reset,
    /// which would cost the server six statements before every transaction (<c>No Reset On Close</c>).
    /// A connection string that sets either key keeps its own value.
    /// </summary>
    /// <remarks>
    /// Whether a key was given is read from the string's own keys: Npgsql's builder answers
    /// <c>ContainsKey</c> true for every keyword it knows, given or not.
    /// </remarks>
    internal static string PostgresConnectionString(string connectionString)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys
            .Cast<string>().Select(k => k.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant()).ToHashSet();
        var csb = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!given.Contains("maxautoprepare"))
            csb.MaxAutoPrepare = 64;
        if (!given.Contains("noresetonclose"))
            csb.NoResetOnClose = true;
        return csb.ConnectionString;
    }

    /// <summary>The store's services; the host registers <see cref="StoreOptions"/>.</summary>
    public static IServiceCollection AddIfStore(this IServiceCollection services)
    {
        // Interceptors registered with the services see every command (diagnostics; tests inject faults with them).
        services.AddPooledDbContextFactory<IfDbContext>((sp, b) =>
            Configure((DbContextOptionsBuilder<IfDbContext>)b, sp.GetRequiredService<StoreOptions>()).AddInterceptors(sp.GetServices<IInterceptor>()));
        services.AddSingleton<EventSignals>();
        services.AddSingleton<TransactionRunner>();
        services.AddSingleton<EventSequencer>();
        services.AddSingleton<UnitPoolExtender>();
        services.AddSingleton<ClonerCache>();
        return services;
    }

    /// <summary>Applies pending migrations (EF takes a lock, so replicas starting together apply them once).</summary>
    public static async Task MigrateAsync(IServiceProvider sp, CancellationToken ct)
    {
        var options = sp.GetRequiredService<StoreOptions>();
        var log = sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StoreSetup));
        if (options.Provider == StoreProvider.Sqlite)
            PrepareSqliteFile(options.ConnectionString);
        // EF reads the migrations history table before it exists on a fresh database and logs that
        // failed read as an error; for this one context it is expected, so it is logged at Debug. So
        // are SQLite's notes that a migration runs SQL while a table rebuild is pending and switches
        // foreign keys off outside a transaction: the Vnets migration does the one on purpose (its
        // comments say why), and every table rebuild does the other.
        var migrateOptions = Configure(new DbContextOptionsBuilder<IfDbContext>(), options)
            .UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>())
            .ConfigureWarnings(w => w.Log((RelationalEventId.CommandError, LogLevel.Debug),
                (Microsoft.EntityFrameworkCore.Diagnostics.SqliteEventId.TableRebuildPendingWarning, LogLevel.Debug),
                (RelationalEventId.NonTransactionalMigrationOperationWarning, LogLevel.Debug)))
            .Options;
        await using (var db = new IfDbContext(migrateOptions))
        {
            if (options.Provider == StoreProvider.Sqlite)
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct); // readers do not block the writer
            else
            {
                // Replicas started at once on a fresh database would each apply the first migration:
                // one at a time, the later ones find nothing pending. Held by this connection until
                // it lets go or its session ends, so a replica killed meanwhile holds nothing.
                await db.Database.OpenConnectionAsync(ct);
                await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_lock(hashtext('ifapi.migrations'))", ct);
            }
            try
            {
                var pending = (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
                if (pending.Count > 0)
                {
                    log.LogInformation("applying migrations {Migrations}", string.Join(", ", pending));
                    await db.Database.MigrateAsync(ct);
                }
            }
            finally
            {
                if (options.Provider == StoreProvider.Postgres)
                    await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_unlock(hashtext('ifapi.migrations'))", CancellationToken.None);
            }
        }
    }

    /// <summary>Whether every migration this build knows is applied (for readiness).</summary>
    public static async Task<bool> IsMigratedAsync(IServiceProvider sp, CancellationToken ct)
    {
        await using var db = await sp.GetRequiredService<IDbContextFactory<IfDbContext>>().CreateDbContextAsync(ct);
        return !(await db.Database.GetPendingMigrationsAsync(ct)).Any();
    }

    private static void PrepareSqliteFile(string connectionString)
    {
        var file = new SqliteConnectionStringBuilder(connectionString).DataSource;
        var dir = Path.GetDirectoryName(Path.GetFullPath(file));
        if (!string.IsNullOrEmpty(file) && file != ":memory:" && !string.IsNullOrEmpty(dir))
            Directory.CreateDirectory(dir);
    }
}
