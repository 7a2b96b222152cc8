using IfApi.Store;
using Npgsql;
using Testcontainers.PostgreSql;

namespace IfApi.Tests;

/// <summary>A store the service can be pointed at: a fresh SQLite file or a fresh PostgreSQL database.</summary>
public abstract class StoreFixture : IAsyncLifetime
{
    public abstract StoreProvider Provider { get; }
    public string ConnectionString { get; protected set; } = "";

    public abstract Task InitializeAsync();
    public abstract Task DisposeAsync();

    public IfApiFactory NewFactory(params (string Key, string Value)[] settings) => new(Provider, ConnectionString, settings);

    /// <summary>Two service hosts on this store, as two replicas are, with a client of each.</summary>
    public TwoHosts NewHosts() => new(NewFactory(), NewFactory());
}

public sealed class TwoHosts : IDisposable
{
    private readonly IfApiFactory _one, _two;

    public TwoHosts(IfApiFactory one, IfApiFactory two)
    {
        (_one, _two) = (one, two);
        (A, B) = (one.CreateClient(), two.CreateClient());
    }

    public HttpClient A { get; }
    public HttpClient B { get; }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        _one.Dispose();
        _two.Dispose();
    }
}

public sealed class SqliteStore : StoreFixture
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ifapi-tests", Guid.NewGuid().ToString("N"));

    public override StoreProvider Provider => StoreProvider.Sqlite;

    public override Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        ConnectionString = $"Data Source={Path.Combine(_dir, "ifapi.db")}";
        return Task.CompletedTask;
    }

    public override Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }
}

public sealed class PostgresStore : StoreFixture
{
    private string? _database;

    public override StoreProvider Provider => StoreProvider.Postgres;

    public override async Task InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        _database = "ifapi_" + Guid.NewGuid().ToString("N")[..16];
        await using (var conn = new NpgsqlConnection(server))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {_database}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = _database }.ConnectionString;
    }

    public override async Task DisposeAsync()
    {
        if (_database is null)
            return;
        NpgsqlConnection.ClearAllPools();
        await using var conn = new NpgsqlConnection(await PostgresServer.GetAsync());
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", conn);
        await cmd.ExecuteNonQueryAsync();
    }
}

/// <summary>
/// The PostgreSQL server the tests use: an explicit connection string (<c>IFAPI_TEST_POSTGRES</c>,
/// which the test command sets after starting its own server), else a Testcontainers container when
/// a Docker engine answers, else a failure that says what is missing. Never a silent skip.
/// </summary>
public static class PostgresServer
{
    public const string Variable = "IFAPI_TEST_POSTGRES";
    private static readonly Lazy<Task<string>> Server = new(StartAsync);

    public static Task<string> GetAsync() => Server.Value;

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } explicitConnection)
            return explicitConnection;
        try
        {
            var container = new PostgreSqlBuilder("postgres:16-alpine").Build();
            await container.StartAsync();
            return container.GetConnectionString();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                $"PostgreSQL tests need a server: set {Variable} to a connection string (the test command does), or run a Docker engine for Testcontainers. {e.Message}", e);
        }
    }
}
