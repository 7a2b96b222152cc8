using System.Text.Json.Serialization;
using IfApi.Application;
using IfApi.Store;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace IfApi;

/// <summary>Binds the store to configuration, adds the use cases over it, and brings it up before the server takes requests.</summary>
public static class StoreHosting
{
    /// <summary>
    /// True while the build runs the app only to write openapi/v1.json: then nothing may touch a
    /// store (it would migrate the developer's own database under data/).
    /// </summary>
    internal static bool GeneratingDocument => System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name == "GetDocument.Insider";

    public static WebApplicationBuilder AddIfStore(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        AddStoreSettings(services);
        services.AddIfStore();
        services.AddIfApplication();
        if (!GeneratingDocument)
            services.AddHostedService<StoreStartup>();
        services.ConfigureHttpJsonOptions(o =>
        {
            // A misspelt field is a client bug worth hearing about, not something to drop silently.
            o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        return builder;
    }

    /// <summary>The store's settings, checked at start-up, and the <see cref="StoreOptions"/> made of them.</summary>
    internal static IServiceCollection AddStoreSettings(IServiceCollection services)
    {
        services.AddSettings<DatabaseOptions, DatabaseOptionsValidation>(DatabaseOptions.Section)
            .Configure<IConfiguration>((database, config) => database.ConnectionString = config.GetConnectionString(DatabaseOptions.ConnectionStringName));
        services.AddSettings<EventsOptions, EventsOptionsValidation>(EventsOptions.Section);
        services.AddOptions<InterfacesOptions>().BindConfiguration(InterfacesOptions.Section).Configure<IConfiguration>(InterfacesOptions.ReadOneString);
        // What is configured goes to the store; what is not keeps the store's own default.
        // Tap:LeaseSeconds is the frame path's setting: TapHosting adds it.
        services.AddOptions<StoreOptions>().Configure<IOptions<DatabaseOptions>, IOptions<EventsOptions>, IHostEnvironment>((store, database, events, host) =>
        {
            if (database.Value.Provider is { } provider)
                store.Provider = provider;
            if (!string.IsNullOrWhiteSpace(database.Value.ConnectionString))
                store.ConnectionString = database.Value.ConnectionString;
            if (store.Provider == StoreProvider.Sqlite)
                store.ConnectionString = SqliteFileUnder(host.ContentRootPath, store.ConnectionString);
            if (events.Value.Retention is { } retention)
                store.EventRetention = retention;
            if (events.Value.Keep is { } keep)
                store.EventsKept = keep;
        });
        return services.AddSingleton(sp => sp.GetRequiredService<IOptions<StoreOptions>>().Value);
    }

    /// <summary>
    /// A relative SQLite file (the default <c>data/ifapi.db</c>) is under the content root, as the
    /// appsettings.json beside it is (<see cref="ContentRoot"/>), not under whatever folder the service
    /// was started from. In-memory databases, <c>file:</c> URIs and <c>|DataDirectory|</c> are SQLite's own.
    /// </summary>
    internal static string SqliteFileUnder(string contentRoot, string connectionString)
    {
        var csb = new SqliteConnectionStringBuilder(connectionString);
        var file = csb.DataSource;
        if (file.Length == 0 || file == ":memory:" || csb.Mode == SqliteOpenMode.Memory || Path.IsPathRooted(file)
            || file.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || file.Contains("|DataDirectory|", StringComparison.OrdinalIgnoreCase))
            return connectionString;
        csb.DataSource = Path.GetFullPath(file, contentRoot);
        return csb.ConnectionString;
    }
}

/// <summary>Migrates and bootstraps the store; hosted services start before the server listens.</summary>
internal sealed class StoreStartup(IServiceProvider sp, Startup startup, IOptions<InterfacesOptions> interfaces, StoreOptions options,
    ILogger<StoreStartup> log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        if (options.Provider == StoreProvider.Sqlite)
            log.LogInformation("store: {Provider} in {File}", options.Provider, new SqliteConnectionStringBuilder(options.ConnectionString).DataSource);
        else
            log.LogInformation("store: {Provider}", options.Provider); // its connection string may hold a password
        await StoreSetup.MigrateAsync(sp, ct);
        await startup.BootstrapAsync(interfaces.Value.Static, ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
