using IfApi.Application;
using IfApi.Auth;
using System.Net.WebSockets;
using System.Text.Json;
using IfApi.Domain;
using IfApi.Frames;
using IfApi.Frames.Wire;
using IfApi.Interfaces;
using IfApi.OpenApi;
using IfApi.Transactions;
using IfApi.Vnets;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Tap;

/// <summary>A bridge's members by index (<c>BRDGGIFS</c>).</summary>
public sealed record BridgeMembers(IReadOnlyList<string> Members);

/// <summary>The tap device over WebSocket, the transmit endpoint, and bridge membership.</summary>
public static class TapApi
{
    public static IEndpointRouteBuilder MapTapApi(this IEndpointRouteBuilder routes)
    {
        var tap = routes.MapGroup("").WithTags("Tap");

        tap.MapGet("/interfaces/{ref}/tap", Open).WithName("OpenTap").RequireScope(Scopes.Tap).WithMetadata(NotInTransactions.Instance)
            .Produces(StatusCodes.Status101SwitchingProtocols)
            .WithSummary("Open a tap's device (/dev/tapN) as a WebSocket")
            .WithDescription("Upgrades to a WebSocket that is the tap's character device: each binary message the client sends is one frame the interface receives; each binary message the server sends is one frame it transmitted. With the subprotocol `" + BatchFraming.Protocol + "`, a binary message carries several frames, each after a 2-byte big-endian length. One opener at a time (EBUSY); opening sets `running`, closing clears it and discards what was queued; destroying the interface closes the socket with 1001.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(422).ProducesProblem(503);

        tap.MapGet("/tap", OpenClone).WithName("OpenCloningTap").RequireScope(Scopes.Tap).WithMetadata(NotInTransactions.Instance)
            .Produces(StatusCodes.Status101SwitchingProtocols)
            .WithSummary("Create a tap and open it (/dev/tap), on a bridge if named; it is destroyed when the socket closes")
            .WithDescription("Creates a tap with the lowest free unit, brings it up and opens it; the first message is a text one, `{\"name\":\"tapN\"}`. Then the same framing as the named device: plain one-frame-per-message for browser emulators (v86, jor1k, JSLinux), or `" + BatchFraming.Protocol + "`. With `bridge`, the tap is made a member of that bridge of the caller's vnet in the same transaction: an emulator pointed at this URL, which reopens it after any disconnect, is always on that segment. Unknown bridge: 404 ENXIO; not a bridge: 422 EOPNOTSUPP, both before the upgrade. The bridge destroyed while the socket is open closes it with 1001; when it closes, the tap leaves the bridge and is destroyed.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(422).ProducesProblem(503);

        tap.MapPost("/interfaces/{ref}/frames", Transmit).WithName("TransmitFrame").RequireScope(Scopes.Write).WithMetadata(NotInTransactions.Instance)
            .WithSummary("Transmit one Ethernet frame out of an interface (if_transmit)")
            .WithDescription("The body is one frame, `application/octet-stream`, 14 bytes up to MTU + 14 (+4 with a VLAN tag). 202: the device's reader gets it, or, when nobody has the device open or the interface is down, it is dropped and counted. Out of a bridge, it goes to the member its destination was learned on, else to every up member.")
            .Accepts<byte[]>("application/octet-stream")
            .Produces(202)
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(422).ProducesProblem(503);

        var members = routes.MapGroup("/interfaces/{ref}/members").WithTags("Bridges");

        members.MapGet("/", Members).WithName("GetBridgeMembers").RequireScope(Scopes.Read)
            .WithSummary("A bridge's members (ifconfig BRIDGE, BRDGGIFS)")
            .ProducesProblem(404).ProducesProblem(422).ProducesProblem(503);

        members.MapPut("/{member}", AddMember).WithName("AddBridgeMember").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch], response: [Headers.ETag])
            .WithSummary("Make an interface a member (ifconfig BRIDGE addm IF, BRDGADD)")
            .WithDescription("201 when it joined, 200 when it was a member already. A member of another bridge: EBUSY; not Ethernet (lo, a bridge): EOPNOTSUPP; unknown member: ENOENT. `If-Match` (the bridge's version) is honoured.")
            .Produces<BridgeMembers>(201)
            .ProducesProblem(404).ProducesProblem(409).ProducesProblem(412).ProducesProblem(422).ProducesProblem(503);

        members.MapDelete("/{member}", RemoveMember).WithName("RemoveBridgeMember").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch], response: [Headers.ETag])
            .WithSummary("Take a member out (ifconfig BRIDGE deletem IF, BRDGDEL)")
            .WithDescription("Not a member: ENOENT. The stations learned on it are forgotten. `If-Match` (the bridge's version) is honoured.")
            .ProducesProblem(404).ProducesProblem(412).ProducesProblem(422).ProducesProblem(503);

        return routes;
    }

    /// <summary><c>tap_dev_open</c> on <c>/dev/tapN</c>.</summary>
    public static async Task<EmptyHttpResult> Open(string @ref, InterfaceService interfaces, TapDeviceService devices, FramePlane plane, HttpContext http, IHostApplicationLifetime life, CancellationToken ct)
    {
        var ifp = await interfaces.GetAsync(@ref, ct);
        if (ifp.Kind != InterfaceKind.Tap)
            throw new IfError(Errno.EOPNOTSUPP, $"'{ifp.Name}' is a {ifp.Kind.WireName()}, not a tap: it has no device", Ioctl.TapOpen);
        RequireWebSocket(http);
        using var slot = Reserve(plane);
        var port = await plane.LoadPortAsync(ifp.Id, ct) ?? throw new IfError(Errno.ENXIO, $"no interface '{@ref}'", Ioctl.TapOpen);
        var queue = port.TryOpen() ?? throw new IfError(Errno.EBUSY, $"'{ifp.Name}' is open already", Ioctl.TapOpen);
        try
        {
            await OpenDeviceAsync(devices, port, queue, Actor.Of(http), ct);
            if (plane.Uplink is { } uplink)
                await uplink.SettledAsync(ct); // what other replicas send it comes from the first frame on
            var log = Log(http);
            log.LogInformation("tap {Name} opened", ifp.Name); // with the key, in the request's scope
            await RunAsync(http, port, queue, greeting: default, life.ApplicationStopping);
            log.LogInformation("tap {Name} closed", ifp.Name);
        }
        finally
        {
            port.Close(queue);
            await Settle(() => CloseDeviceAsync(devices, port, Actor.Of(http)), http);
        }
        return TypedResults.Empty;
    }

    /// <summary>
    /// The device's lease and IFF_RUNNING follow it (another replica's live lease: EBUSY). Opening
    /// and closing take turns per port, and closing happens only while the device is closed: a close
    /// whose bookkeeping is slow must not undo the next open's, which may have happened meanwhile.
    /// </summary>
    private static async Task OpenDeviceAsync(TapDeviceService devices, Port port, TransmitQueue queue, string? actor, CancellationToken ct)
    {
        await port.RunningTurn.WaitAsync(ct);
        try
        {
            await devices.OpenAsync(port.Id, bringUp: false, actor, ct);
            port.Leased(queue);
        }
        finally
        {
            port.RunningTurn.Release();
        }
    }

    private static async Task CloseDeviceAsync(TapDeviceService devices, Port port, string? actor)
    {
        await port.RunningTurn.WaitAsync();
        try
        {
            if (!port.IsOpen)
                await devices.CloseAsync(port.Id, actor, CancellationToken.None);
        }
        finally
        {
            port.RunningTurn.Release();
        }
    }

    /// <summary>The cloning device <c>/dev/tap</c>: a new tap, up and open, destroyed with the socket.</summary>
    /// <remarks>
    /// With a <c>bridge</c> of the caller's vnet, the tap joins it in the transaction that creates it:
    /// a lab's segment. An emulator that opens this URL, and opens it again after any disconnect, is
    /// always on that segment; the bridge destroyed closes the socket with 1001.
    /// </remarks>
    public static async Task<EmptyHttpResult> OpenClone(string? bridge, CloningDevice cloning, FramePlane plane, HttpContext http,
        IHostApplicationLifetime life, CancellationToken ct)
    {
        RequireWebSocket(http);
        using var slot = Reserve(plane);
        var actor = Actor.Of(http);
        // Not given up halfway when the client goes: a commit cut short leaves no knowing whether the
        // tap exists, and nobody to destroy it. Once it answered, the close below always runs.
        var (ifp, segment) = await cloning.OpenAsync(bridge, actor, CancellationToken.None);
        try
        {
            var port = await plane.LoadPortAsync(ifp.Id, ct) ?? throw new IfError(Errno.ENXIO, $"'{ifp.Name}' was destroyed meanwhile", Ioctl.TapOpen);
            var joined = segment is null ? null
                : await plane.LoadBridgeAsync(segment.Id, ct) ?? throw new IfError(Errno.ENXIO, $"bridge '{segment.Name}' was destroyed meanwhile", Ioctl.TapOpen);
            var queue = port.TryOpen() ?? throw new IfError(Errno.EBUSY, $"'{ifp.Name}' was opened by name meanwhile", Ioctl.TapOpen);
            try
            {
                port.Leased(queue); // taken with running, above
                if (plane.Uplink is { } uplink)
                    await uplink.SettledAsync(ct); // what other replicas send it comes from the first frame on
                var greeting = JsonSerializer.SerializeToUtf8Bytes(new { name = ifp.Name });
                var log = Log(http);
                if (segment is null)
                    log.LogInformation("tap {Name} created and opened (cloning device)", ifp.Name);
                else
                    log.LogInformation("tap {Name} created and opened on bridge {Bridge} (cloning device)", ifp.Name, segment.Name);
                // Its segment destroyed closes it, unless it was moved to another bridge by hand meanwhile.
                using var segmentGone = new CancellationTokenSource();
                using var watch = joined is null ? default : joined.Gone.Register(() =>
                {
                    if (port.Bridge is null)
                        segmentGone.Cancel();
                });
                await RunAsync(http, port, queue, greeting, life.ApplicationStopping, segmentGone.Token);
                log.LogInformation("tap {Name} closed; destroying it", ifp.Name);
            }
            finally
            {
                port.Close(queue);
            }
        }
        finally
        {
            await Settle(() => cloning.CloseAsync(ifp.Id, actor, CancellationToken.None), http);
        }
        return TypedResults.Empty;
    }

    private static ILogger Log(HttpContext http) => http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TapApi));

    private static IDisposable Reserve(FramePlane plane) => plane.ReserveDevice()
        ?? throw new IfError(Errno.ENFILE, $"{plane.Options.MaxOpen} tap devices are open in this service already (Tap:MaxOpen); try again later", Ioctl.TapOpen);

    private static void RequireWebSocket(HttpContext http)
    {
        if (!http.WebSockets.IsWebSocketRequest)
            throw new IfError(Errno.EINVAL, "the device is a WebSocket: send an upgrade request (GET with Upgrade: websocket)", Ioctl.TapOpen);
    }

    /// <summary>The device's session; <paramref name="segmentGone"/> is cancelled when the bridge it was opened onto is destroyed.</summary>
    private static async Task RunAsync(HttpContext http, Port port, TransmitQueue queue, ReadOnlyMemory<byte> greeting, CancellationToken stopping,
        CancellationToken segmentGone = default)
    {
        var batched = http.WebSockets.WebSocketRequestedProtocols.Contains(BatchFraming.Protocol);
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = batched ? BatchFraming.Protocol : null });
        try
        {
            await new TapSession(socket, DeviceStream.Of(http), port, queue, batched).RunAsync(greeting, stopping, segmentGone);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
            // the client went away: the device closes all the same
        }
    }

    /// <summary>
    /// The bookkeeping after a device closes (clearing <c>running</c>, destroying a cloned tap)
    /// must happen even though the client is gone; a failure is logged, not thrown at nobody.
    /// </summary>
    private static async Task Settle(Func<Task> work, HttpContext http)
    {
        try
        {
            await work();
        }
        catch (Exception e)
        {
            Log(http).LogWarning(e, "closing a tap device: the store could not be updated");
        }
    }

    /// <summary><c>if_transmit</c>: one frame out of the interface.</summary>
    public static async Task<Accepted> Transmit(string @ref, InterfaceService interfaces, FramePlane plane, HttpContext http, CancellationToken ct)
    {
        var ifp = await interfaces.GetAsync(@ref, ct);
        if (!ifp.Kind.IsEthernet())
            throw new IfError(Errno.EOPNOTSUPP, $"'{ifp.Name}' is a {ifp.Kind.WireName()}: it carries no Ethernet frames", Ioctl.Transmit);
        // Where it goes is found before the body is read: nothing can fail while a frame is held.
        var bridge = ifp.Kind == InterfaceKind.Bridge ? await plane.LoadBridgeAsync(ifp.Id, ct) : null;
        var port = ifp.Kind == InterfaceKind.Bridge ? null : await plane.LoadPortAsync(ifp.Id, ct);
        var limit = Math.Min(ifp.Mtu + EthernetHeader.Length + EthernetHeader.VlanTagLength, Frame.MaxLength);
        var (frame, length) = await ReadBodyAsync(http.Request.Body, limit, ct);
        if (frame is null || !EthernetHeader.HasValidLength(frame.Span, ifp.Mtu))
        {
            frame?.Release();
            throw new IfError(Errno.EINVAL, $"a frame is {EthernetHeader.Length} to {ifp.Mtu + EthernetHeader.Length} bytes (+{EthernetHeader.VlanTagLength} with a VLAN tag) on '{ifp.Name}', not {length}", Ioctl.Transmit);
        }
        if (BatchService.InDryRun)
            frame.Release(); // checked, and nothing sent
        else if (bridge is not null)
            bridge.Transmit(frame);
        else if (port is not null)
            port.Transmit(frame);
        else
            frame.Release(); // destroyed meanwhile
        return TypedResults.Accepted((string?)null);
    }

    /// <summary>The body as one pooled frame, or null with its length when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<(Frame? Frame, long Length)> ReadBodyAsync(Stream body, int limit, CancellationToken ct)
    {
        var frame = Frame.Rent(limit);
        try
        {
            var length = 0;
            int read;
            while (length < limit && (read = await body.ReadAsync(frame.Memory[length..], ct)) > 0)
                length += read;
            long more = 0;
            if (length == limit)
            {
                // Full: anything after it makes it too long; read on only to say how long.
                var rest = new byte[4096];
                while ((read = await body.ReadAsync(rest, ct)) > 0)
                    more += read;
            }
            if (more == 0)
            {
                frame.Shorten(length);
                return (frame, length);
            }
            frame.Release();
            return (null, length + more);
        }
        catch
        {
            frame.Release();
            throw;
        }
    }

    /// <summary><c>BRDGGIFS</c>: the members of the bridge <paramref name="ref"/>.</summary>
    public static async Task<Ok<BridgeMembers>> Members(string @ref, BridgeService bridges, CancellationToken ct) =>
        TypedResults.Ok(new BridgeMembers(await bridges.MembersAsync(@ref, ct)));

    /// <summary><c>BRDGADD</c>: <paramref name="member"/> joins the bridge <paramref name="ref"/>.</summary>
    public static async Task<Results<Created<BridgeMembers>, Ok<BridgeMembers>>> AddMember(string @ref, string member, BridgeService bridges, HttpContext http, CancellationToken ct)
    {
        var (added, b) = await bridges.AddAsync(@ref, member, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        http.Response.Headers.ETag = Preconditions.ETag(b.Version);
        var members = new BridgeMembers(b.Members ?? []);
        return added ? TypedResults.Created($"{VnetAccess.V1(http)}/interfaces/{b.Id}/members", members) : TypedResults.Ok(members);
    }

    /// <summary><c>BRDGDEL</c>: <paramref name="member"/> leaves the bridge <paramref name="ref"/>.</summary>
    public static async Task<NoContent> RemoveMember(string @ref, string member, BridgeService bridges, HttpContext http, CancellationToken ct)
    {
        var b = await bridges.RemoveAsync(@ref, member, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        http.Response.Headers.ETag = Preconditions.ETag(b.Version);
        return TypedResults.NoContent();
    }
}
