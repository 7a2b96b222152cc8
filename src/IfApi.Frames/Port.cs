using IfApi.Domain;

namespace IfApi.Frames;

/// <summary>
/// An interface as its frames see it: a tap with its character device, or any Ethernet port a
/// bridge can hold. Input is a frame the interface received (written into its device); output is a
/// frame it transmits (toward its device's reader), as <c>if_tap.c</c>'s <c>tap_dev_write</c> and
/// <c>tap_start</c>.
/// </summary>
public sealed class Port
{
    private static int _lastIndex;

    /// <summary>How many cables (epairs) one frame may cross in a row before it is dropped.</summary>
    public const int MaxCableHops = 8;

    /// <summary>How many crossings, all told, the copies of one received frame may make (a flood fans out at each bridge).</summary>
    public const int MaxCableCrossings = 64;

    private TransmitQueue? _device;
    private readonly Lock _deviceLock = new();
    private readonly CancellationTokenSource _gone = new();

    public Port(Guid id, int mtu, bool up, int queueLength, InterfaceKind kind = InterfaceKind.Tap)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueLength, 1);
        (Id, Mtu, Up, QueueLength, Kind) = (id, mtu, up, queueLength, kind);
        Index = NextIndex();
    }

    /// <summary>A number no port or <see cref="RemoteReplica"/> of this process had before.</summary>
    internal static int NextIndex() => Interlocked.Increment(ref _lastIndex);

    /// <summary>The plane the port belongs to, which knows the way to other replicas; none for a port on its own.</summary>
    internal FramePlane? Plane { get; init; }

    /// <summary>
    /// The store says the device is open (IFF_RUNNING), here or on another replica. Open in the
    /// store and not here, it is open elsewhere: what the interface transmits goes there.
    /// </summary>
    public bool RunningInStore { get; set; }

    public Guid Id { get; }

    /// <summary>The vnet its interface is in now: its traffic since it came is counted under it.</summary>
    public string Vnet { get; set; } = Vnets.Host;

    /// <summary>What its counters held when it came to <see cref="Vnet"/>: counted under the vnets it was in before.</summary>
    internal TrafficTotals CountedBefore { get; set; }

    public InterfaceKind Kind { get; }

    /// <summary>The other end of an epair: what this end transmits, it receives.</summary>
    public Port? Peer { get; internal set; }

    /// <summary>Cancelled when the interface is destroyed: its device is closed with 1001.</summary>
    public CancellationToken Gone => _gone.Token;

    /// <summary>The interface was destroyed: whoever holds its device is told through <see cref="Gone"/>.</summary>
    public void Destroy()
    {
        try
        {
            _gone.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>A number of this process's own for the port, which a bridge's table learns stations by.</summary>
    public int Index { get; }

    /// <summary>The MTU; frames longer than it allows are input errors.</summary>
    public int Mtu { get; set; }

    /// <summary>IFF_UP: while down, nothing passes either way (counted as drops).</summary>
    public bool Up { get; set; }

    /// <summary>How many transmitted frames wait for a slow reader before the newest are dropped.</summary>
    public int QueueLength { get; }

    public PortCounters Counters { get; } = new();

    /// <summary>The bridge this port is a member of, if any.</summary>
    public Bridge? Bridge { get; internal set; }

    /// <summary>Whose turn it is to record the device opening or closing (IFF_RUNNING in the store): one at a time per port.</summary>
    public SemaphoreSlim RunningTurn { get; } = new(1, 1);

    /// <summary>Whether the device is open here (IFF_RUNNING on a tap).</summary>
    public bool IsOpen => Volatile.Read(ref _device) is not null;

    /// <summary>The device is open on another replica: a bridge's flood reaches it there, not from here.</summary>
    internal bool OpenElsewhere => RunningInStore && Volatile.Read(ref _device) is null && Plane?.Uplink is not null;

    /// <summary>Opens the device, one opener at a time (<c>tap_dev_open</c>): null when another holds it (EBUSY).</summary>
    public TransmitQueue? TryOpen()
    {
        lock (_deviceLock)
        {
            if (_device is not null)
                return null;
            var queue = new TransmitQueue(QueueLength, Counters);
            Volatile.Write(ref _device, queue);
            Plane?.InterestChanged();
            return queue;
        }
    }

    /// <summary>Closes the device that <paramref name="queue"/> belongs to; what it had queued is discarded.</summary>
    public void Close(TransmitQueue queue)
    {
        lock (_deviceLock)
        {
            if (!ReferenceEquals(_device, queue))
                return;
            Volatile.Write(ref _device, null);
        }
        queue.Close();
        Plane?.InterestChanged();
    }

    private TransmitQueue? _leased;

    /// <summary>The store holds this replica's lease for the device <paramref name="queue"/> belongs to.</summary>
    public void Leased(TransmitQueue queue)
    {
        lock (_deviceLock)
        {
            if (ReferenceEquals(_device, queue))
                _leased = queue;
        }
    }

    /// <summary>The open device once its lease is held (not while it is still being opened).</summary>
    public TransmitQueue? LeasedDevice
    {
        get
        {
            lock (_deviceLock)
                return _device is not null && ReferenceEquals(_device, _leased) ? _device : null;
        }
    }

    /// <summary>Closes the device <paramref name="queue"/> belongs to under its reader, if it is still the open one; see <see cref="TransmitQueue.Revoke"/>.</summary>
    public void Revoke(TransmitQueue queue, string reason)
    {
        lock (_deviceLock)
        {
            if (!ReferenceEquals(_device, queue))
                return; // closed, and perhaps opened again since: not this device any more
            Volatile.Write(ref _device, null);
        }
        queue.Revoke(reason);
        Plane?.InterestChanged();
    }

    /// <summary>
    /// The interface transmits <paramref name="frame"/>, taking over one reference: down an epair's
    /// cable to its peer, or to the device's queue; with nobody reading, it is counted as sent and
    /// dropped, as <c>tap_start</c> does (so is a frame sent out of an interface that has no device
    /// here, a static one); with the device open on another replica, to that replica (counted there
    /// when its reader gets it); while the interface is down, dropped and counted; longer than its MTU
    /// allows (a bridge member with a larger MTU sent it), an output error. Sent from outside (the
    /// transmit endpoint), it has a <see cref="CableBudget"/> of its own.
    /// </summary>
    public void Transmit(Frame frame)
    {
        var budget = new CableBudget();
        Transmit(frame, ref budget);
    }

    /// <summary>Transmits a frame that is part of an arrival's delivery, within that arrival's <paramref name="budget"/>.</summary>
    internal void Transmit(Frame frame, ref CableBudget budget)
    {
        if (!Up)
        {
            Counters.OutputDrop();
            frame.Release();
            return;
        }
        var length = frame.Length; // the frame may be back in its pool once handed on
        if (!EthernetHeader.HasValidLength(frame.Span, Mtu))
        {
            Counters.OutputError(); // longer than this interface's MTU allows: it cannot carry it
            frame.Release();
            return;
        }
        if (Peer is { } peer)
        {
            if (!budget.TryCross())
            {
                Counters.LoopCut(); // a loop of cables, or a flood multiplied by a mesh of them
                frame.Release();
                return;
            }
            Counters.Output(length);
            peer.Receive(frame, ref budget);
            budget.Returned();
            return;
        }
        var device = Volatile.Read(ref _device);
        if (device is null)
        {
            if (RunningInStore && !budget.FromReplica && Plane?.Uplink is { } uplink)
            {
                uplink.ToDevice(Id, frame);
                return;
            }
            frame.Release();
            Counters.NoReader(length);
        }
        else if (!device.Enqueue(frame))
            Counters.NoReader(length); // closed meanwhile: as if nobody had it open
        // Queued frames count as output when the writer loop sends them.
    }

    /// <summary>
    /// A frame received by the interface, taking over one reference: written into its device, or
    /// come down an epair's cable. A frame shorter than a header or longer than the MTU allows is an
    /// input error; while down, a drop. A bridge member's frame goes on to the bridge; otherwise it
    /// goes up a host stack this service does not have, and ends here. Received from outside, it
    /// starts a <see cref="CableBudget"/>.
    /// </summary>
    public void Receive(Frame frame)
    {
        var budget = new CableBudget();
        Receive(frame, ref budget);
    }

    /// <summary>Receives a frame that came down a cable, within the <paramref name="budget"/> of the arrival that sent it.</summary>
    internal void Receive(Frame frame, ref CableBudget budget)
    {
        if (!Accept(frame.Span))
        {
            frame.Release();
            return;
        }
        if (Bridge is not { } bridge)
        {
            frame.Release();
            return;
        }
        bridge.Forward(this, frame, ref budget);
    }

    /// <summary>
    /// <c>tap_dev_write</c>: one write into the device, one frame received. The bytes are copied
    /// into a pooled frame only when something will carry them on. It starts a <see cref="CableBudget"/>.
    /// </summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        if (!Accept(bytes) || Bridge is not { } bridge)
            return;
        var budget = new CableBudget();
        bridge.Forward(this, Frame.Copy(bytes), ref budget);
    }

    /// <summary>Counts a frame coming in: an input error, a drop while down, or a packet received.</summary>
    private bool Accept(ReadOnlySpan<byte> frame)
    {
        if (!EthernetHeader.HasValidLength(frame, Mtu))
        {
            Counters.InputError();
            return false;
        }
        if (!Up)
        {
            Counters.InputDrop();
            return false;
        }
        Counters.Input(frame.Length);
        return true;
    }
}
