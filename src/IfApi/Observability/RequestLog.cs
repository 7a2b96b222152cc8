using System.Diagnostics;

namespace IfApi.Observability;

/// <summary>
/// Every request gets an id: the caller's <c>X-Request-ID</c> when it is a sane one (1-128 visible
/// ASCII characters), else a new one. It is echoed in the answer and in problem bodies
/// (<c>requestId</c>), and it and the API key's name are in the scope of every log line the request
/// writes. Each change (anything but GET, HEAD and OPTIONS) is logged once, with its answer.
/// </summary>
public static class RequestLog
{
    public const string Header = "X-Request-ID";
    private const int MaxLength = 128;

    public static WebApplication UseIfRequestLog(this WebApplication app)
    {
        app.UseMiddleware<RequestLogMiddleware>();
        return app;
    }

    /// <summary>Adds the API key's name to the request's log scope once it is known.</summary>
    internal static void NoteKey(HttpContext http, string key)
    {
        if (http.Features.Get<RequestScope>() is { } scope)
            scope.Key = key;
    }

    internal static string? Accept(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > MaxLength)
            return null;
        foreach (var c in presented)
        {
            if (c is < '!' or > '~')
                return null;
        }
        return presented;
    }

    internal static string NewId() => Guid.NewGuid().ToString("N");
}

/// <summary>The request's log scope: its id, and the key once authentication found it.</summary>
internal sealed class RequestScope(string requestId) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public string RequestId { get; } = requestId;
    public string? Key { get; set; }

    public int Count => Key is null ? 1 : 2;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("RequestId", RequestId),
        1 when Key is not null => new("Key", Key),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
            yield return this[i];
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => Key is null ? $"RequestId:{RequestId}" : $"RequestId:{RequestId} Key:{Key}";
}

internal sealed partial class RequestLogMiddleware(RequestDelegate next, ILogger<RequestLogMiddleware> log)
{
    public async Task InvokeAsync(HttpContext http)
    {
        var id = RequestLog.Accept(http.Request.Headers[RequestLog.Header]) ?? RequestLog.NewId();
        http.TraceIdentifier = id;
        // On starting, not now: an error handler clears the headers of the answer it replaces.
        http.Response.OnStarting(static state =>
        {
            var h = (HttpContext)state;
            h.Response.Headers[RequestLog.Header] = h.TraceIdentifier;
            return Task.CompletedTask;
        }, http);
        var scope = new RequestScope(id);
        http.Features.Set(scope);
        using var logScope = log.BeginScope(scope);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(http);
        }
        finally
        {
            var method = http.Request.Method;
            if (!(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)))
                Changed(log, method, http.Request.Path, http.Response.StatusCode, scope.Key ?? "-", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path} answered {Status} for key {Key} in {Elapsed:0.0} ms")]
    private static partial void Changed(ILogger log, string method, string path, int status, string key, double elapsed);
}
