using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace IfApi.Tests;

/// <summary>
/// Settings (README, Configuration): a value that cannot work stops the start with a message that names
/// its key, and the service reads its own appsettings.json wherever it is started from.
/// </summary>
public sealed class SettingsTests(SqliteStore store) : IClassFixture<SqliteStore>
{
    [Theory]
    [InlineData("Tap:QueueLength", "abc", "'abc' at 'Tap:QueueLength'")]                                // not a number: the binder says so
    [InlineData("Tap:QueueLength", "0", "Tap:QueueLength '0' is not a whole number of frames, at least 1")] // a number out of range
    [InlineData("Tap:MaxOpen", "-3", "Tap:MaxOpen '-3'")]
    [InlineData("Tap:LeaseSeconds", "0", "Tap:LeaseSeconds '0'")]
    [InlineData("Kestrel:Limits:MaxRequestBodySize", "0", "Kestrel:Limits:MaxRequestBodySize '0'")]
    [InlineData("Kestrel:Limits:MaxRequestBodySize", "1MB", "'1MB' at 'Kestrel:Limits:MaxRequestBodySize'")]
    [InlineData("Database:Provider", "Oracle", "'Oracle' at 'Database:Provider'")]                      // not a provider
    [InlineData("Database:Provider", "2", "Database:Provider '2' is not Sqlite or Postgres")]          // a number, but no provider's
    [InlineData("Events:Retention", "1 day", "'1 day' at 'Events:Retention'")]                          // not a duration
    [InlineData("Frames:Nats:Url", "http://127.0.0.1:4222", "Frames:Nats:Url 'http://127.0.0.1:4222' is not a NATS URL")]
    [InlineData("Frames:Nats:Url", "nats://me:secret@nowhere:4222 x", "Frames:Nats:Url 'nats://***@nowhere:4222 x' is not")] // the password is not shown
    [InlineData("Frames:Nats:Prefix", "ifapi.*", "Frames:Nats:Prefix 'ifapi.*' is not one or more subject tokens")]
    [InlineData("Frames:Nats:Prefix", "a..b", "Frames:Nats:Prefix 'a..b'")]
    [InlineData("Frames:Nats:CredsFile", "/nonexistent/ifapi.creds", "Frames:Nats:CredsFile '/nonexistent/ifapi.creds' does not exist")]
    [InlineData("Frames:Nats:QueueLength", "0", "Frames:Nats:QueueLength '0'")]
    [InlineData("Events:Retention", "-00:00:01", "Events:Retention '-00:00:01'")]                       // a duration out of range
    [InlineData("Memory:TrimWhenIdle", "yes", "'yes' at 'Memory:TrimWhenIdle'")]
    [InlineData("ConnectionStrings:IfApi", "Data Sauce=x.db", "ConnectionStrings:IfApi is not an SQLite connection string")]
    [InlineData("Auth:Keys:ci:Secret", "too-short", "Auth:Keys:ci:Secret is shorter than 16 characters")]
    public void A_setting_that_cannot_work_stops_the_start_and_names_its_key(string key, string value, string message)
    {
        using var factory = store.NewFactory((key, value));
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains(message, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Postgres_without_a_connection_string_stops_the_start()
    {
        using var factory = store.NewFactory(("Database:Provider", "Postgres"), ("ConnectionStrings:IfApi", ""));
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("Database:Provider is Postgres but ConnectionStrings:IfApi is not set", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_bad_value_of_a_section_is_named_at_once()
    {
        using var factory = store.NewFactory(("Tap:QueueLength", "0"), ("Tap:MaxOpen", "0"));
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("Tap:QueueLength '0'", e.ToString(), StringComparison.Ordinal);
        Assert.Contains("Tap:MaxOpen '0'", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Unset_settings_keep_their_documented_defaults()
    {
        using var factory = store.NewFactory();
        _ = factory.CreateClient();
        var tap = factory.Services.GetRequiredService<IfApi.Frames.TapOptions>();
        Assert.Equal((1024, 4096), (tap.QueueLength, tap.MaxOpen));
        var options = factory.Services.GetRequiredService<IfApi.Store.StoreOptions>();
        Assert.Equal((TimeSpan.FromDays(1), 1_000_000L, TimeSpan.FromSeconds(10)), (options.EventRetention, options.EventsKept, options.LeaseDuration));
        Assert.Equal(RequestLimitsOptions.DefaultMaxRequestBodySize, factory.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits.MaxRequestBodySize);
        Assert.True(factory.Services.GetRequiredService<MemoryTrimOptions>().TrimWhenIdle);
    }

    [Fact]
    public void Set_ones_reach_what_uses_them()
    {
        using var factory = store.NewFactory(("Tap:QueueLength", "8"), ("Tap:LeaseSeconds", "3"), ("Events:Retention", "06:00:00"), ("Events:Keep", "5"),
            ("Kestrel:Limits:MaxRequestBodySize", "2048"), ("Interfaces:Static", "em0, em1"));
        _ = factory.CreateClient();
        Assert.Equal(8, factory.Services.GetRequiredService<IfApi.Frames.TapOptions>().QueueLength);
        var options = factory.Services.GetRequiredService<IfApi.Store.StoreOptions>();
        Assert.Equal((TimeSpan.FromHours(6), 5L, TimeSpan.FromSeconds(3)), (options.EventRetention, options.EventsKept, options.LeaseDuration));
        Assert.Equal(2048, factory.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits.MaxRequestBodySize);
        Assert.Equal(["em0", "em1"], factory.Services.GetRequiredService<IOptions<InterfacesOptions>>().Value.Static);
    }

    [Fact]
    public void Static_interfaces_are_a_list_or_one_string()
    {
        // Not through WebApplicationFactory: it hands its settings over as a command line, and with
        // Interfaces:Static:0 that carries an empty Interfaces:Static, which is the string form.
        static List<string> Static(params (string Key, string? Value)[] settings)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();
            using var services = StoreHosting.AddStoreSettings(new ServiceCollection().AddSingleton<IConfiguration>(configuration)).BuildServiceProvider();
            return services.GetRequiredService<IOptions<InterfacesOptions>>().Value.Static;
        }
        Assert.Equal(["em0", "em1"], Static(("Interfaces:Static:0", "em0"), ("Interfaces:Static:1", "em1"), ("Interfaces:Static:2", "")));
        Assert.Equal(["em0", "em1", "em2"], Static(("Interfaces:Static", "em0,em1 em2")));
        Assert.Equal(["em9"], Static(("Interfaces:Static", "em9"), ("Interfaces:Static:0", "em0"))); // the string, as before
        Assert.Empty(Static());
    }

    [Theory]
    [InlineData("Data Source=data/ifapi.db", "/srv/ifapi/data/ifapi.db")]   // the default: under the content root
    [InlineData("Data Source=ifapi.db;Cache=Shared", "/srv/ifapi/ifapi.db")]
    [InlineData("Data Source=/var/lib/ifapi/ifapi.db", "/var/lib/ifapi/ifapi.db")]
    [InlineData("Data Source=:memory:", ":memory:")]
    [InlineData("Data Source=shared;Mode=Memory", "shared")]
    [InlineData("Data Source=file:ifapi.db?cache=shared", "file:ifapi.db?cache=shared")] // SQLite's own URI rules
    [InlineData("Data Source=|DataDirectory|ifapi.db", "|DataDirectory|ifapi.db")]
    public void A_relative_SQLite_file_is_under_the_content_root(string connectionString, string file)
    {
        var placed = StoreHosting.SqliteFileUnder("/srv/ifapi", connectionString);
        Assert.Equal(file, new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(placed).DataSource);
    }

    [Fact]
    public async Task Started_from_another_folder_the_service_reads_its_own_appsettings_json()
    {
        // A folder with an appsettings.json of its own that would stop the start: the service must not read it.
        var elsewhere = Directory.CreateTempSubdirectory("ifapi-elsewhere");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(elsewhere.FullName, "appsettings.json"), """{ "Tap": { "QueueLength": 0 } }""");
            await using var service = await ServiceProcess.StartAsync(store, workingDirectory: elsewhere.FullName);
            using var client = service.Client();
            var created = await client.PostAsJsonAsync("/v1/interfaces", new { name = "tap" });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/interfaces")).StatusCode);
            await service.WaitForOutputAsync(l => l.Contains("answered 201", StringComparison.Ordinal)); // what came before it is in too

            Assert.Contains(service.Output, l => l.Contains($"Content root path: {Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)}", StringComparison.Ordinal));
            // Its appsettings.json keeps EF Core's command lines at Warning; without it they are Information.
            Assert.DoesNotContain(service.Output, l => l.Contains("info: Microsoft.EntityFrameworkCore", StringComparison.Ordinal));
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_service_process_with_a_bad_setting_exits_and_says_which()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ServiceProcess.StartAsync(store, [("Tap:QueueLength", "many")]));
        Assert.Contains("'many' at 'Tap:QueueLength'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=db;Username=ifapi", 64, true)]                               // not given: prepared, not reset
    [InlineData("Host=db;Username=ifapi;Max Auto Prepare=0;No Reset On Close=false", 0, false)] // given, in either spelling: kept
    [InlineData("Host=db;Username=ifapi;MaxAutoPrepare=12;NoResetOnClose=false", 12, false)]
    [InlineData("Host=db;Username=ifapi;max auto prepare=7", 7, true)]
    public void PostgreSQL_connections_prepare_and_skip_the_reset_unless_the_connection_string_says_otherwise(string given, int prepared, bool noReset)
    {
        var used = new Npgsql.NpgsqlConnectionStringBuilder(IfApi.Store.StoreSetup.PostgresConnectionString(given));
        Assert.Equal(prepared, used.MaxAutoPrepare);
        Assert.Equal(noReset, used.NoResetOnClose);
    }
}
