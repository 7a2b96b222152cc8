using System.Net;
using System.Text;
using System.Text.Json;

namespace IfApi.Tests;

/// <summary>One Server-Sent Event from <c>/v1/events</c>.</summary>
public sealed record SseEvent(long Id, string Type, JsonElement Body)
{
    /// <summary>The event's own data: the interface id, names, the group, the changes.</summary>
    public JsonElement Data => Body.GetProperty("data");

    public string? InterfaceId => Data.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
}

/// <summary>A subscriber to <c>/v1/events</c> that reads frames as the server sends them.</summary>
public sealed class EventStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private EventStream(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public static async Task<EventStream> OpenAsync(HttpClient http, string? lastEventId = null, string query = "", string path = "/v1/events")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path + query);
        if (lastEventId is not null)
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new EventStream(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>What a browser's EventSource would send as <c>Last-Event-ID</c> if it reconnected now.</summary>
    public long? LastEventId { get; private set; }

    /// <summary>The next event; fails the test when none comes within the timeout.</summary>
    public Task<SseEvent> NextAsync(TimeSpan? timeout = null) => NextAsync(null, timeout)!;

    /// <summary>Reads until <see cref="LastEventId"/> reaches <paramref name="id"/>, by an event or by an id alone.</summary>
    public async Task ReadToIdAsync(long id, TimeSpan? timeout = null)
    {
        while (LastEventId is not { } last || last < id)
            await NextAsync(id, timeout);
    }

    /// <summary>The next event, or null when <paramref name="stopAtId"/> is reached by an id without one.</summary>
    private async Task<SseEvent?> NextAsync(long? stopAtId, TimeSpan? timeout)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        long? id = null;
        string? type = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (id is not null)
                    LastEventId = id;
                if (data.Length > 0)
                    return new SseEvent(id ?? throw new InvalidDataException("an event without an id"), type ?? "message",
                        JsonDocument.Parse(data.ToString()).RootElement.Clone());
                if (stopAtId is { } stop && LastEventId >= stop)
                    return null;
                (id, type) = (null, null);
                continue;
            }
            if (line.StartsWith(':'))
                continue; // a comment: keep-alive
            var colon = line.IndexOf(':');
            var (field, value) = colon < 0 ? (line, "") : (line[..colon], line[(colon + 1)..].TrimStart(' '));
            switch (field)
            {
                case "id": id = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "event": type = value; break;
                case "data": data.Append(value); break;
            }
        }
    }

    /// <summary>Reads until <paramref name="until"/> holds for an event, and returns every event read.</summary>
    public async Task<List<SseEvent>> ReadUntilAsync(Func<SseEvent, bool> until, TimeSpan? timeout = null)
    {
        var seen = new List<SseEvent>();
        while (true)
        {
            var e = await NextAsync(timeout);
            seen.Add(e);
            if (until(e))
                return seen;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        await Task.CompletedTask;
    }
}
