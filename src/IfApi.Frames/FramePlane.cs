using System.Collections.Concurrent;
using IfApi.Domain;
using Microsoft.Extensions.Logging;

namespace IfApi.Frames;

/// <summary>Settings of the frame path (<c>Tap:*</c>).</summary>
public sealed class TapOptions
{
    public const string Section = "Tap";

    /// <summary><c>Tap:QueueLength</c>: frames an interface's transmit queue holds for a slow reader.</summary>
    public int QueueLength { get; set; } = 1024;

    /// <summary><c>Tap:MaxOpen</c>: devices this process keeps open at once; one more is refused (ENFILE, 503), so a client opening sockets by the thousand cannot exhaust memory.</summary>
    public int MaxOpen { get; set; } = 4096;

    /// <summary><c>Tap:LeaseSeconds</c>: how long a replica's hold on an open device lasts unrenewed; unset, the store's default (10 s).</summary>
    public int? LeaseSeconds { get; set; }

    /// <summary>How often stations not heard for the age limit are forgotten, and failed refreshes retried (not a setting).</summary>
    public TimeSpan SweepInterval { get; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The interfaces as their frames see them, in this process: a <see cref="Port"/> for each Ethernet
/// interface a frame can reach, a <see cref="Bridge"/> for each bridge, wired as the store says
/// (epair peers, bridge members, up or down). It loads an interface when its device is first
/// opened or a frame is first sent out of it, with everything connected to it, and follows every
/// committed change to what it holds (<see cref="ChangedAsync"/>), so the store stays the one
/// truth and the frame path never asks it anything per frame.
/// </summary>
public sealed class FramePlane(ILinkSource links, TapOptions options, ILogger<FramePlane> log) : IDisposable
{
    private readonly ConcurrentDictionary<Guid, Port> _ports = new();
    private readonly ConcurrentDictionary<Guid, Bridge> _bridges = new();
    private readonly ConcurrentDictionary<Guid, byte> _stale = new(); // refreshes that failed, retried by the sweep
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private readonly Lock _pendingLock = new();
    private HashSet<Guid> _pending = []; // ids waiting for the next refresh's turn
    private TaskCompletionSource? _round; // done when the refresh that takes them is
    private readonly SemaphoreSlim _opening = new(0, 1); // released when a device is being opened
    private long _changes; // changes reported so far: a refresh that saw some land meanwhile reads again

    public TapOptions Options => options;

    /// <summary>The way to the other replicas sharing the store (SPEC §7); none when frames stay in this process.</summary>
    public IReplicaUplink? Uplink { get; private set; }

    /// <summary>Frames go to and come from other replicas through <paramref name="uplink"/> from now on.</summary>
    public void Attach(IReplicaUplink uplink)
    {
        Uplink = uplink;
        WakeFollower(); // it now follows whatever is loaded, not only open devices
    }

    private void WakeFollower()
    {
        if (_opening.CurrentCount > 0)
            return;
        try { _opening.Release(); }
        catch (SemaphoreFullException) { } // another wake-up came first
    }

    /// <summary>What this replica serves: the bridges with a member whose device is open here, and those devices.</summary>
    public Interest Interest()
    {
        var bridges = new HashSet<Guid>();
        var devices = new HashSet<Guid>();
        foreach (var port in _ports.Values)
        {
            if (!port.IsOpen)
                continue;
            devices.Add(port.Id);
            if (port.Bridge is { } bridge)
                bridges.Add(bridge.Id);
        }
        return new Interest(bridges, devices);
    }

    /// <summary>A device opened or closed, or a bridge's members changed: the uplink follows what this replica serves.</summary>
    internal void InterestChanged() => Uplink?.InterestChanged();

    /// <summary>
    /// A frame from another replica (<paramref name="origin"/>), taking over its one reference: for
    /// the bridge or the device <paramref name="target"/>, as <paramref name="how"/> says. False when
    /// it is not served here (any more): then it is dropped.
    /// </summary>
    public bool Arrive(Guid origin, Arrival how, Guid target, Frame frame)
    {
        if (how == Arrival.Device)
        {
            if (FindPort(target) is { IsOpen: true } port)
            {
                var budget = new CableBudget { FromReplica = true };
                port.Transmit(frame, ref budget);
                return true;
            }
        }
        else if (FindBridge(target) is { } bridge)
        {
            bridge.Arrive(RemoteReplica.Of(origin), how, frame);
            return true;
        }
        frame.Release();
        return false;
    }

    /// <summary>The port of an interface loaded here, if any.</summary>
    public Port? FindPort(Guid id) => _ports.TryGetValue(id, out var port) ? port : null;

    public Bridge? FindBridge(Guid id) => _bridges.TryGetValue(id, out var bridge) ? bridge : null;

    /// <summary>An interface's live counters: zeros while nothing has passed through it here.</summary>
    public PortStats Stats(Guid id) =>
        _ports.TryGetValue(id, out var port) ? port.Counters.Snapshot()
        : _bridges.TryGetValue(id, out var bridge) ? bridge.Counters.Snapshot()
        : default;

    /// <summary>The interface's port, loading it with what it connects to; null when it does not exist.</summary>
    public async Task<Port?> LoadPortAsync(Guid id, CancellationToken ct)
    {
        if (_ports.TryGetValue(id, out var port))
            return port;
        await RefreshAsync([id], ct);
        return FindPort(id);
    }

    /// <summary>The bridge, loaded with its members; null when it does not exist.</summary>
    public async Task<Bridge?> LoadBridgeAsync(Guid id, CancellationToken ct)
    {
        if (_bridges.TryGetValue(id, out var bridge))
            return bridge;
        await RefreshAsync([id], ct);
        return FindBridge(id);
    }

    /// <summary>A change committed: what is loaded here of those interfaces is read again.</summary>
    public async ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        // Counted before the look: a load that read the store before this change committed and
        // installs its ports after this look sees the count move and reads again.
        Interlocked.Increment(ref _changes);
        if (!ids.Any(id => _ports.ContainsKey(id) || _bridges.ContainsKey(id)))
            return;
        try
        {
            // The change has committed: a client that gives up waiting must not leave the plane behind it.
            await RefreshAsync(ids, CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The store answered the change a moment ago; if it cannot be read now, the sweep retries.
            foreach (var id in ids)
                _stale.TryAdd(id, 0);
            log.LogWarning(e, "the frame path could not follow a change to {Count} interfaces; retrying", ids.Count);
        }
    }

    /// <summary>Forgets aged stations and retries refreshes that failed; the sweeper calls it.</summary>
    public async Task SweepAsync(CancellationToken ct)
    {
        var now = Environment.TickCount64;
        foreach (var bridge in _bridges.Values)
            bridge.Age(now);
        if (_stale.IsEmpty)
            return;
        var ids = _stale.Keys.ToList();
        foreach (var id in ids)
            _stale.TryRemove(id, out _);
        await ChangedAsync(ids, ct);
    }

    /// <summary>
    /// Reads <paramref name="ids"/> and all they connect to from the store and makes the ports and
    /// bridges here match: new ones made, MTUs and up/down followed, epair ends joined,
    /// memberships as stored, and those no longer in the store taken apart.
    /// </summary>
    /// <remarks>
    /// Refreshes take turns, and whoever's turn it is reads for everyone waiting: a burst of changes
    /// (two hundred emulators joining one bridge) is a few reads of that bridge, not one each.
    /// </remarks>
    private async Task RefreshAsync(IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        Task mine;
        lock (_pendingLock)
        {
            _pending.UnionWith(ids);
            mine = (_round ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        await _refresh.WaitAsync(ct);
        try
        {
            TaskCompletionSource? round;
            HashSet<Guid> taken;
            lock (_pendingLock)
            {
                (round, taken) = (_round, _pending);
                (_round, _pending) = (null, []);
            }
            // None left: the turn before this one read these ids too, and is over.
            if (round is not null)
            {
                try
                {
                    // Read for others as well: one caller giving up must not fail the rest.
                    await RefreshRoundAsync([.. taken], CancellationToken.None);
                    round.SetResult();
                }
                catch (Exception e)
                {
                    round.SetException(e);
                }
            }
        }
        finally
        {
            _refresh.Release();
        }
        await mine;
    }

    private async Task RefreshRoundAsync(IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        for (var pass = 0; ; pass++)
        {
            var seen = Interlocked.Read(ref _changes);
            await ApplyAsync(ids, ct);
            if (Interlocked.Read(ref _changes) == seen)
                return;
            if (pass == 2)
            {
                // Changes keep landing: the sweep reads these again shortly.
                foreach (var id in ids)
                    _stale.TryAdd(id, 0);
                return;
            }
        }
    }

    private async Task ApplyAsync(IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        var loaded = await links.GetLinksAsync(ids, ct);
        var found = loaded.ToDictionary(l => l.Id);
        foreach (var id in ids)
        {
            if (!found.ContainsKey(id))
                Remove(id);
        }
        foreach (var link in loaded)
        {
            if (link.Kind == InterfaceKind.Bridge)
            {
                var bridge = _bridges.GetOrAdd(link.Id, id => new Bridge { Id = id, Plane = this });
                bridge.Up = link.Up;
                if (bridge.Vnet != link.Vnet)
                {
                    lock (_totalsLock)
                    {
                        var now = BridgeDrops(bridge);
                        Retire(bridge.Vnet, now - bridge.CountedBefore);
                        (bridge.CountedBefore, bridge.Vnet) = (now, link.Vnet);
                    }
                }
            }
            else
            {
                var port = _ports.GetOrAdd(link.Id, _ => new Port(link.Id, link.Mtu, link.Up, options.QueueLength, link.Kind) { Plane = this });
                (port.Mtu, port.Up, port.RunningInStore) = (link.Mtu, link.Up, link.Running);
                if (port.Vnet != link.Vnet)
                {
                    // Moved: what it carried so far stays counted where it was, so no vnet's counts go back.
                    lock (_totalsLock)
                    {
                        var now = TrafficTotals.Of(port.Counters);
                        Retire(port.Vnet, now - port.CountedBefore);
                        (port.CountedBefore, port.Vnet) = (now, link.Vnet);
                    }
                }
            }
        }
        foreach (var link in loaded)
        {
            if (link.Kind == InterfaceKind.Bridge || !_ports.TryGetValue(link.Id, out var port))
                continue;
            port.Peer = link.Peer is Guid peer ? FindPort(peer) : null;
            var bridge = link.Bridge is Guid b ? FindBridge(b) : null;
            if (ReferenceEquals(port.Bridge, bridge))
                continue;
            port.Bridge?.Remove(port);
            bridge?.Add(port);
        }
        // A member that left is not among what a bridge's links reach any more, so it was not read
        // above: a bridge read now keeps only the members the store gives it (another replica's
        // change names the bridge alone).
        foreach (var link in loaded)
        {
            if (link.Kind != InterfaceKind.Bridge || FindBridge(link.Id) is not { } bridge)
                continue;
            foreach (var member in bridge.Members)
            {
                if (!found.TryGetValue(member.Id, out var stored) || stored.Bridge != link.Id)
                    bridge.Remove(member);
            }
        }
    }

    private readonly Lock _totalsLock = new();
    // What ports no longer here carried, by vnet, so that totals never go back. A port counts under the
    // vnet it is in when it is read: a move takes what it carried along.
    private readonly Dictionary<string, TrafficTotals> _retired = new(StringComparer.Ordinal);

    /// <summary>Everything the ports of this process carried and dropped since it started, by the vnet they were in, for <c>/metrics</c>.</summary>
    public Dictionary<string, TrafficTotals> TotalsByVnet()
    {
        lock (_totalsLock)
        {
            var totals = new Dictionary<string, TrafficTotals>(_retired, StringComparer.Ordinal);
            void Add(string vnet, TrafficTotals t) => totals[vnet] = totals.GetValueOrDefault(vnet) + t;
            foreach (var port in _ports.Values)
                Add(port.Vnet, TrafficTotals.Of(port.Counters) - port.CountedBefore);
            foreach (var bridge in _bridges.Values)
                Add(bridge.Vnet, BridgeDrops(bridge) - bridge.CountedBefore);
            return totals;
        }
    }

    private static TrafficTotals BridgeDrops(Bridge bridge) => new(0, 0, 0, 0, bridge.Counters.Drops() with { InputErrors = 0, OutputErrors = 0 });

    private void Retire(string vnet, TrafficTotals t) => _retired[vnet] = _retired.GetValueOrDefault(vnet) + t;

    /// <summary>Devices open in this process now.</summary>
    public int OpenDevices => _ports.Values.Count(p => p.IsOpen);

    /// <summary>
    /// Whether a device is open or being opened here: then frames depend on the links being current.
    /// Every open holds its slot (<see cref="ReserveDevice"/>) from before the port is loaded until it closes.
    /// </summary>
    public bool HasDevices => Volatile.Read(ref _slots) > 0;

    /// <summary>
    /// Whether frames here depend on the links being current: a device is open here, or, with other
    /// replicas to send to, anything is loaded (a frame posted here may be for a device open there).
    /// </summary>
    public bool NeedsFollowing => HasDevices || (Uplink is not null && !(_ports.IsEmpty && _bridges.IsEmpty));

    /// <summary>Waits until a device is being opened here, or <paramref name="wait"/> runs out.</summary>
    public Task WaitForDeviceAsync(TimeSpan wait, CancellationToken ct) => _opening.WaitAsync(wait, ct);

    /// <summary>
    /// Reads everything loaded here again. For one who starts following changes: what changed
    /// before it started is in the store, and this is where the plane learns it.
    /// </summary>
    public ValueTask ReloadAsync(CancellationToken ct) => ChangedAsync([.. _ports.Keys, .. _bridges.Keys], ct);

    /// <summary>The devices open here whose leases this replica holds, each with its port.</summary>
    public List<(Port Port, TransmitQueue Device)> LeasedDevices() =>
        _ports.Values.Select(p => (Port: p, Device: p.LeasedDevice)).Where(d => d.Device is not null).Select(d => (d.Port, d.Device!)).ToList();

    private int _slots; // devices open or being opened here, against Tap:MaxOpen

    /// <summary>A place for one more open device, held until disposed; null when <see cref="TapOptions.MaxOpen"/> are open (the file table is full).</summary>
    public IDisposable? ReserveDevice()
    {
        if (Interlocked.Increment(ref _slots) <= options.MaxOpen)
        {
            WakeFollower();
            return new Slot(this);
        }
        Interlocked.Decrement(ref _slots);
        return null;
    }

    private sealed class Slot(FramePlane plane) : IDisposable
    {
        private int _freed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _freed, 1) == 0)
                Interlocked.Decrement(ref plane._slots);
        }
    }

    /// <summary>The interface is gone: its device is closed, it leaves its bridge; a bridge releases its members.</summary>
    private void Remove(Guid id)
    {
        Port? port;
        lock (_totalsLock)
        {
            if (_ports.TryRemove(id, out port))
                Retire(port.Vnet, TrafficTotals.Of(port.Counters) - port.CountedBefore);
        }
        if (port is not null)
        {
            port.Bridge?.Remove(port);
            if (port.Peer is { } peer && ReferenceEquals(peer.Peer, port))
                peer.Peer = null;
            port.Peer = null;
            port.Up = false;
            port.Destroy();
        }
        Bridge? bridge;
        lock (_totalsLock)
        {
            if (_bridges.TryRemove(id, out bridge))
                Retire(bridge.Vnet, BridgeDrops(bridge) - bridge.CountedBefore);
        }
        if (bridge is not null)
        {
            bridge.Up = false;
            foreach (var member in bridge.Members)
                bridge.Remove(member);
            bridge.Destroy();
        }
    }

    public void Dispose()
    {
        _refresh.Dispose();
        _opening.Dispose();
    }
}

/// <summary>Frames and bytes in and out, and drops by reason, summed over ports.</summary>
public readonly record struct TrafficTotals(long FramesIn, long FramesOut, long BytesIn, long BytesOut, DropCounts Drops)
{
    public static TrafficTotals Of(PortCounters counters)
    {
        var s = counters.Snapshot();
        return new(s.Ipackets, s.Opackets, s.Ibytes, s.Obytes, counters.Drops());
    }

    public static TrafficTotals operator +(TrafficTotals a, TrafficTotals b) => new(a.FramesIn + b.FramesIn, a.FramesOut + b.FramesOut,
        a.BytesIn + b.BytesIn, a.BytesOut + b.BytesOut, a.Drops + b.Drops);

    public static TrafficTotals operator -(TrafficTotals a, TrafficTotals b) => new(a.FramesIn - b.FramesIn, a.FramesOut - b.FramesOut,
        a.BytesIn - b.BytesIn, a.BytesOut - b.BytesOut, a.Drops - b.Drops);
}
