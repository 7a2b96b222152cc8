using System.Text.Json.Serialization;
using IfApi.Store;

namespace IfApi;

/// <summary>Binds the store to configuration and brings it up before the server takes requests.</summary>
public static class StoreHosting
{
    /// <summary>
    /// True while the build runs the app only to write openapi/v1.json: then nothing may touch a
    /// store (it would migrate the developer's own database under data/).
    /// </summary>
    internal static bool GeneratingDocument => System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name == "GetDocument.Insider";

    public static WebApplicationBuilder AddIfStore(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var provider = config["Database:Provider"] is { Length: > 0 } p
            ? Enum.TryParse<StoreProvider>(p, ignoreCase: true, out var parsed) ? parsed
                : throw new InvalidOperationException($"Database:Provider '{p}' is not Sqlite or Postgres")
            : StoreProvider.Sqlite;
        var connection = config.GetConnectionString("IfApi");
        if (string.IsNullOrWhiteSpace(connection))
        {
            if (provider == StoreProvider.Postgres)
                throw new InvalidOperationException("Database:Provider is Postgres but ConnectionStrings:IfApi is not set");
            connection = StoreOptions.DefaultSqlite;
        }
        var options = new StoreOptions { Provider = provider, ConnectionString = connection };
        if (config["Events:Retention"] is { Length: > 0 } retention)
            options.EventRetention = TimeSpan.TryParse(retention, System.Globalization.CultureInfo.InvariantCulture, out var kept) && kept >= TimeSpan.Zero
                ? kept : throw new InvalidOperationException($"Events:Retention '{retention}' is not a duration such as 1.00:00:00 (a day) or 06:00:00");
        if (config["Events:Keep"] is { Length: > 0 } keep)
            options.EventsKept = long.TryParse(keep, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var most) && most >= 1
                ? most : throw new InvalidOperationException($"Events:Keep '{keep}' is not a whole number of events, at least 1");
        if (config["Tap:LeaseSeconds"] is { Length: > 0 } lease)
            options.LeaseDuration = int.TryParse(lease, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds >= 1
                ? TimeSpan.FromSeconds(seconds) : throw new InvalidOperationException($"Tap:LeaseSeconds '{lease}' is not a whole number of seconds, at least 1");
        builder.Services.AddIfStore(options);
        builder.Services.AddSingleton(new StaticInterfaces(ReadList(config.GetSection("Interfaces:Static"))));
        if (!GeneratingDocument)
            builder.Services.AddHostedService<StoreStartup>();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            // A misspelt field is a client bug worth hearing about, not something to drop silently.
            o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        return builder;
    }

    /// <summary><c>Interfaces:Static</c> as a list (<c>Interfaces:Static:0=em0</c>) or one string (<c>em0,em1</c>).</summary>
    private static string[] ReadList(IConfigurationSection section) =>
        section.Value is { } one
            ? one.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : section.GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).ToArray();
}

public sealed record StaticInterfaces(IReadOnlyList<string> Names);

/// <summary>Migrates and bootstraps the store; hosted services start before the server listens.</summary>
internal sealed class StoreStartup(IServiceProvider sp, StaticInterfaces statics, StoreOptions options, ILogger<StoreStartup> log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        log.LogInformation("store: {Provider}", options.Provider);
        await StoreSetup.MigrateAndBootstrapAsync(sp, statics.Names, ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
