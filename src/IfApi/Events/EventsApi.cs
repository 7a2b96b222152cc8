using IfApi.OpenApi;
using IfApi.Auth;
using System.Globalization;
using System.Text;
using System.Text.Json;
using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Events;

/// <summary>
/// The routing socket's announcements (<c>route -n monitor</c>) as Server-Sent Events: interface
/// arrival, departure, rename and changes, link up and down, group attach, detach and change,
/// cloner attach and detach. Each event's <c>id</c> increases by one; a client that reconnects
/// with <c>Last-Event-ID</c> gets every event after it, once.
/// </summary>
public static class EventsApi
{
    private const int Batch = 500;
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>The sequencer and listener run in the background, after the store is migrated.</summary>
    public static IServiceCollection AddIfEvents(this IServiceCollection services) =>
        StoreHosting.GeneratingDocument ? services : services.AddHostedService<EventPump>();

    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/events", Stream).WithTags("Events").WithName("StreamEvents").RequireScope(Scopes.Read).WithMetadata(Transactions.NotInTransactions.Instance)
            .WithHeaders(request: [Headers.LastEventId])
            .WithSummary("Announcements as Server-Sent Events (the routing socket)")
            .WithDescription("""
                The vnet's own events only: each vnet has its own routing socket.
                Each event: `id` (increasing; ids of other vnets' events are skipped), `event` (its type) and `data`, a JSON object with `id`, `type`, `at`, `vnet`, `subject` (the interface, group or cloner it is about), `actor` (the name of the API key whose request made the change; absent when the service runs without keys) and `data`.
                Without `Last-Event-ID` (or `after`) the stream starts with the next event; with it, right after that event. `after=0` replays everything kept.
                Events are kept for `Events:Retention` (a day) and at most `Events:Keep` of them (a million); resuming after an event no longer kept is 410 with errno `ENOBUFS`, and an id never given is 400 `EINVAL`.
                `interface` (a name or an id), `type` (comma-separated) and `group` (the group's `group-attach`, `group-detach` and `group-change` events) narrow the stream.
                """)
            .Produces<StreamedEvent>(200, "text/event-stream")
            .ProducesProblem(400).ProducesProblem(410).ProducesProblem(503);
        return routes;
    }

    public static async Task Stream(HttpContext http, EventSequencer events, EventSignals signals, Application.VnetService vnets, CancellationToken ct,
        string? after = null, string? @interface = null, string? type = null, string? group = null)
    {
        var resume = http.Request.Headers["Last-Event-ID"].ToString();
        var asked = ParsePosition(resume.Length > 0 ? resume : after);
        // A vnet's stream begins with the vnet: a deleted namesake's events are not its (the host is never deleted).
        var vnet = Curvnet.Name;
        var since = vnet == Domain.Vnets.Host ? (DateTimeOffset?)null
            : (await vnets.FindAsync(vnet, ct) ?? throw new IfError(Errno.ENXIO, $"no vnet '{vnet}'")).CreatedAt;
        var filter = Filter.Parse(vnet, since, @interface, type, group);
        var from = await StartAsync(events, asked, ct);

        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // proxies: pass each event on as it comes
        await response.Body.FlushAsync(ct);

        using var subscribed = signals.Subscribe();
        var buffer = new MemoryStream();
        // An id with no data moves the client's Last-Event-ID without an event (the EventSource rules):
        // sent first, and after events the filter passed over, so a reconnect resumes where this
        // stream really was, never from "now" and never from before what it already looked at.
        var told = -1L;
        while (!ct.IsCancellationRequested)
        {
            // Taken before reading, so ids given while we read wake the next wait instead of being missed.
            var stamped = signals.Stamped;
            // What this process numbered itself is in memory; anything else is read from the store.
            IReadOnlyList<EventInfo> batch = signals.Recent(from, Batch, out var complete);
            if (!complete && batch.Count == 0)
            {
                batch = await events.ReadAsync(from, Batch, ct);
                complete = batch.Count < Batch; // everything visible now
                if (batch.Count > 0 && batch[0].Id != from + 1)
                    return; // this reader fell behind what is kept; resuming tells it so (ENOBUFS)
            }
            foreach (var e in batch)
            {
                if (filter.Matches(e))
                {
                    Write(buffer, e);
                    told = e.Id;
                }
                from = e.Id;
            }
            if (told != from)
            {
                buffer.Write(Encoding.UTF8.GetBytes($"id: {from}\n\n"));
                told = from;
            }
            if (buffer.Length > 0)
            {
                buffer.Position = 0;
                await buffer.CopyToAsync(response.Body, ct);
                await response.Body.FlushAsync(ct);
                buffer.SetLength(0);
            }
            if (batch.Count == Batch || !complete)
                continue; // more is waiting

            try
            {
                await stamped.WaitAsync(KeepAlive, ct);
            }
            catch (TimeoutException)
            {
                await response.WriteAsync(": keep-alive\n\n", ct);
                await response.Body.FlushAsync(ct);
            }
        }
    }

    /// <summary>
    /// Where a stream starts: after every change committed before the subscriber came when no position is given; after
    /// <paramref name="asked"/> when it is still kept (0: with the oldest kept). A position whose
    /// successors were dropped is ENOBUFS, as the routing socket tells a reader that fell behind; one
    /// beyond every id given is EINVAL.
    /// </summary>
    private static async Task<long> StartAsync(EventSequencer events, long? asked, CancellationToken ct)
    {
        if (asked is not { } after)
            return await events.CatchUpAsync(ct);
        var newest = await events.LastAsync(ct);
        if (after > newest)
            throw new IfError(Errno.EINVAL, $"no event {after} has been given; the newest is {newest}");
        var oldest = await events.OldestAsync(ct);
        if (after == 0)
            return Math.Max(0, oldest - 1);
        if (after < oldest - 1)
            throw new IfError(Errno.ENOBUFS,
                $"events {after + 1} to {oldest - 1} are no longer kept (Events:Retention, Events:Keep); read the current state, then subscribe without Last-Event-ID");
        return after;
    }

    /// <summary>A Last-Event-ID or <c>after</c>: a non-negative integer, else EINVAL.</summary>
    private static long? ParsePosition(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return null;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new IfError(Errno.EINVAL, "Last-Event-ID and after are event ids: non-negative integers");
    }

    private static void Write(MemoryStream buffer, EventInfo e)
    {
        var head = Encoding.UTF8.GetBytes($"id: {e.Id}\nevent: {e.Type}\ndata: ");
        buffer.Write(head);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("id", e.Id);
            json.WriteString("type", e.Type);
            json.WriteString("at", e.At);
            json.WriteString("vnet", e.Vnet);
            if (e.Subject is not null)
                json.WriteString("subject", e.Subject);
            if (e.Actor is not null)
                json.WriteString("actor", e.Actor);
            json.WritePropertyName("data");
            json.WriteRawValue(e.Data, skipInputValidation: true);
            json.WriteEndObject();
        }
        buffer.Write("\n\n"u8);
    }

    /// <summary>Which events a subscriber asked for.</summary>
    private sealed record Filter(string Vnet, DateTimeOffset? Since, Guid? Id, string? Name, HashSet<string>? Types, string? Group)
    {
        public static Filter Parse(string vnet, DateTimeOffset? since, string? @interface, string? type, string? group)
        {
            HashSet<string>? types = null;
            if (!string.IsNullOrEmpty(type))
                types = type.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            if (!string.IsNullOrEmpty(group))
                GroupNames.Validate(group);
            group = string.IsNullOrEmpty(group) ? null : group;
            if (string.IsNullOrEmpty(@interface))
                return new Filter(vnet, since, null, null, types, group);
            return Guid.TryParse(@interface, out var id) ? new Filter(vnet, since, id, null, types, group) : new Filter(vnet, since, null, @interface, types, group);
        }

        public bool Matches(EventInfo e) =>
            e.Vnet == Vnet && (Since is null || e.At >= Since)
            && (Types is null || Types.Contains(e.Type))
            && (Id is null || e.InterfaceId == Id)
            && (Name is null || e.InterfaceId is not null && e.Subject == Name)
            && (Group is null || IsAboutGroup(e, Group));

        /// <summary>The group's own events: it began or ended (its name is the subject), or a member came or went.</summary>
        private static bool IsAboutGroup(EventInfo e, string group) => e.Type switch
        {
            EventTypes.GroupAttach or EventTypes.GroupDetach => e.Subject == group,
            EventTypes.GroupChange => MemberOf(e.Data) == group,
            _ => false,
        };

        private static string? MemberOf(string data)
        {
            using var doc = JsonDocument.Parse(data);
            return doc.RootElement.TryGetProperty("group", out var g) ? g.GetString() : null;
        }
    }
}

/// <summary>
/// The <c>data:</c> line of one event of the stream: the envelope the service writes around the
/// announcement, whose type is <see cref="Type"/> (one of <see cref="EventTypes"/>).
/// </summary>
/// <param name="Id">The event's id, also its <c>id:</c> line: increasing by one.</param>
/// <param name="Type">The event's type, also its <c>event:</c> line.</param>
/// <param name="At">When the change that wrote it was made.</param>
/// <param name="Vnet">The vnet whose stream it is in.</param>
/// <param name="Subject">The interface, group or cloner the event is about, by name.</param>
/// <param name="Actor">The API key whose request made the change; absent when the service runs without keys.</param>
/// <param name="Data">The announcement itself.</param>
public sealed record StreamedEvent(long Id, string Type, DateTimeOffset At, string Vnet, string? Subject, string? Actor, Announcement Data);

/// <summary>Runs this replica's event sequencer and, on PostgreSQL, its listener for the other replicas'.</summary>
internal sealed class EventPump(EventSequencer sequencer) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) =>
        Task.WhenAll(sequencer.RunAsync(ct), sequencer.ListenAsync(ct), sequencer.PruneLoopAsync(ct));
}
