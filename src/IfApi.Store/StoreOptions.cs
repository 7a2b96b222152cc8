namespace IfApi.Store;

public enum StoreProvider
{
    Sqlite,
    Postgres,
}

/// <summary><c>Database:Provider</c> and <c>ConnectionStrings:IfApi</c> (SPEC, Configuration).</summary>
public sealed class StoreOptions
{
    public const string DefaultSqlite = "Data Source=data/ifapi.db";

    public StoreProvider Provider { get; set; } = StoreProvider.Sqlite;
    public string ConnectionString { get; set; } = DefaultSqlite;

    /// <summary>How often a transaction that lost a race (serialization failure, deadlock, a unique key another writer took first) is run again.</summary>
    public int MaxAttempts { get; set; } = 12;

    /// <summary>The <c>Retry-After</c> a client is told when the store cannot be reached.</summary>
    public int RetryAfterSeconds { get; set; } = 2;

    /// <summary>How long events are kept for subscribers that resume (<c>Events:Retention</c>).</summary>
    public TimeSpan EventRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>At most this many of the newest events are kept, however young (<c>Events:Keep</c>).</summary>
    public long EventsKept { get; set; } = 1_000_000;

    /// <summary>This process among the replicas sharing the store: new at every start, so a restarted one holds nothing.</summary>
    public string ReplicaId { get; set; } = NewReplicaId();

    private static string NewReplicaId()
    {
        var id = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
        return id.Length <= 64 ? id : id[^64..];
    }

    /// <summary>Whether other replicas may share the store (PostgreSQL); a SQLite store belongs to one process.</summary>
    public bool Shared => Provider == StoreProvider.Postgres;

    /// <summary>How long a tap device's lease lasts without renewal (<c>Tap:LeaseSeconds</c>); renewed every third of it.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);
}


/// <summary>Something this transaction read before its lock changed meanwhile: roll back and run it again.</summary>
public sealed class RaceLostException(string message) : Exception(message);

/// <summary>
/// The batch that carried a transaction's COMMIT failed at the COMMIT or without an answer: whether
/// it committed is unknown (<see cref="Exception.InnerException"/> says why).
/// </summary>
internal sealed class CommitFailedException(Exception inner) : Exception("the commit's outcome is unknown", inner);

