using IfApi.Store;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace IfApi;

/// <summary>
/// <c>Database:Provider</c> and <c>ConnectionStrings:IfApi</c> (SPEC, Configuration). Unset, each is
/// the store's own default (<see cref="StoreOptions"/>): SQLite, in <see cref="StoreOptions.DefaultSqlite"/>.
/// </summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";
    public const string ConnectionStringName = "IfApi";

    public StoreProvider? Provider { get; set; }

    /// <summary>
    /// <c>ConnectionStrings:IfApi</c>, read with <c>GetConnectionString</c> where connection strings
    /// live by convention; not a key of the <c>Database</c> section, so not bound from it.
    /// </summary>
    public string? ConnectionString { get; internal set; }
}

internal sealed class DatabaseOptionsValidation : IValidateOptions<DatabaseOptions>
{
    public ValidateOptionsResult Validate(string? name, DatabaseOptions options) => Settings.Check(
        options.Provider is null || Enum.IsDefined(options.Provider.Value) ? null
            : $"Database:Provider '{options.Provider}' is not Sqlite or Postgres",
        options.Provider != StoreProvider.Postgres || !string.IsNullOrWhiteSpace(options.ConnectionString) ? null
            : "Database:Provider is Postgres but ConnectionStrings:IfApi is not set",
        (options.Provider ?? StoreProvider.Sqlite) == StoreProvider.Sqlite ? NotSqlite(options.ConnectionString) : null);

    /// <summary>Read before the store opens it (its file is placed under the content root), so named here when it cannot be.</summary>
    private static string? NotSqlite(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            return null;
        try
        {
            _ = new SqliteConnectionStringBuilder(connectionString);
            return null;
        }
        catch (ArgumentException e)
        {
            return $"ConnectionStrings:IfApi is not an SQLite connection string: {e.Message}"; // a password never fails to parse, so none is quoted
        }
    }
}

/// <summary>
/// <c>Events:Retention</c> and <c>Events:Keep</c>: how long, and how many of, the newest events are kept
/// for subscribers that resume. Unset, each is the store's own default (a day, a million).
/// </summary>
public sealed class EventsOptions
{
    public const string Section = "Events";

    public TimeSpan? Retention { get; set; }
    public long? Keep { get; set; }
}

internal sealed class EventsOptionsValidation : IValidateOptions<EventsOptions>
{
    public ValidateOptionsResult Validate(string? name, EventsOptions options) => Settings.Check(
        options.Retention is not { } retention || retention >= TimeSpan.Zero ? null
            : $"Events:Retention '{retention}' is not a duration such as 1.00:00:00 (a day) or 06:00:00",
        options.Keep is not { } keep || keep >= 1 ? null
            : $"Events:Keep '{keep}' is not a whole number of events, at least 1");
}

/// <summary>
/// <c>Interfaces:Static</c>: names of non-cloned Ethernet interfaces present from start-up, as a list
/// (<c>Interfaces:Static:0=em0</c>) or one string (<c>em0,em1</c>). The store checks each name.
/// </summary>
public sealed class InterfacesOptions
{
    public const string Section = "Interfaces";

    public List<string> Static { get; set; } = [];

    /// <summary>The binder reads the list form only; one string is a list too, split at commas and spaces.</summary>
    internal static void ReadOneString(InterfacesOptions options, IConfiguration configuration)
    {
        var names = configuration.GetSection($"{Section}:{nameof(Static)}").Value is { } one
            ? one.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : options.Static.Where(name => name is { Length: > 0 });
        options.Static = [.. names];
    }
}
