using IfApi.Store;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IfApi.Tests;

/// <summary>The real service, start-up path included, on a given store.</summary>
public sealed class IfApiFactory(StoreProvider provider, string connectionString, (string Key, string Value)[] settings)
    : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Database:Provider", provider.ToString());
        builder.UseSetting("ConnectionStrings:IfApi", connectionString);
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        foreach (var (key, value) in settings)
            builder.UseSetting(key, value);
        if (Logs is { } logs)
            builder.ConfigureServices(s => s.AddSingleton<ILoggerProvider>(logs));
        if (MoreServices is { } more)
            builder.ConfigureServices(more);
    }

    /// <summary>More services for the host, e.g. an <c>IStartupFilter</c> that dresses requests up.</summary>
    public Action<IServiceCollection>? MoreServices { get; init; }

    /// <summary>When set before the first request, every log line the service writes, with its scopes.</summary>
    public CapturedLogs? Logs { get; init; }
}

/// <summary>Log lines kept for assertions: level, category, message and the scopes it was written in.</summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new System.Text.StringBuilder();
            owner._scopes.ForEachScope((scope, sb) => sb.Append(" => ").Append(scope), scopes);
            owner._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{scopes} {exception}");
        }
    }
}
