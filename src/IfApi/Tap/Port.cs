using IfApi.Domain;

namespace IfApi.Tap;

/// <summary>
/// An interface as its frames see it: a tap with its character device, or any Ethernet port a
/// bridge can hold. Input is a frame the interface received (written into its device); output is a
/// frame it transmits (toward its device's reader), as <c>if_tap.c</c>'s <c>tap_dev_write</c> and
/// <c>tap_start</c>.
/// </summary>
public sealed class Port
{
    private static int _lastIndex;

    private TransmitQueue? _device;
    private readonly Lock _deviceLock = new();

    public Port(Guid id, string name, int mtu, bool up, int queueLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueLength, 1);
        (Id, Name, Mtu, Up, QueueLength) = (id, name, mtu, up, queueLength);
        Index = Interlocked.Increment(ref _lastIndex);
    }

    public Guid Id { get; }

    /// <summary>A number of this process's own for the port, which a bridge's table learns stations by.</summary>
    public int Index { get; }

    public string Name { get; set; }

    /// <summary>The MTU; frames longer than it allows are input errors.</summary>
    public int Mtu { get; set; }

    /// <summary>IFF_UP: while down, nothing passes either way (counted as drops).</summary>
    public bool Up { get; set; }

    /// <summary>How many transmitted frames wait for a slow reader before the newest are dropped.</summary>
    public int QueueLength { get; }

    public PortCounters Counters { get; } = new();

    /// <summary>The bridge this port is a member of, if any.</summary>
    public Bridge? Bridge { get; internal set; }

    /// <summary>Whether the device is open (IFF_RUNNING on a tap).</summary>
    public bool IsOpen => Volatile.Read(ref _device) is not null;

    /// <summary>Opens the device, one opener at a time (<c>tap_dev_open</c>): null when another holds it (EBUSY).</summary>
    public TransmitQueue? TryOpen()
    {
        lock (_deviceLock)
        {
            if (_device is not null)
                return null;
            var queue = new TransmitQueue(QueueLength, Counters);
            Volatile.Write(ref _device, queue);
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
    }

    /// <summary>
    /// The interface transmits <paramref name="frame"/>, taking over one reference: to the device's
    /// queue; with nobody reading, it is counted as sent and dropped, as <c>tap_start</c> does; while
    /// the interface is down, dropped and counted.
    /// </summary>
    public void Transmit(Frame frame)
    {
        if (!Up)
        {
            Counters.OutputDrop();
            frame.Release();
            return;
        }
        var length = frame.Length; // the frame may be back in its pool once handed on
        var device = Volatile.Read(ref _device);
        if (device is null)
        {
            frame.Release();
            Counters.Output(length);
        }
        else if (!device.Enqueue(frame))
            Counters.Output(length); // closed meanwhile: as if nobody had it open
        // Queued frames count as output when the writer loop sends them.
    }

    /// <summary>
    /// A frame written into the device: the interface receives it, taking over one reference. A frame
    /// shorter than a header or longer than the MTU allows is an input error; while down, a drop.
    /// A bridge member's frame goes on to the bridge; otherwise it goes up a host stack this
    /// service does not have, and ends here.
    /// </summary>
    public void Receive(Frame frame)
    {
        if (!EthernetHeader.HasValidLength(frame.Span, Mtu))
        {
            Counters.InputError();
            frame.Release();
            return;
        }
        if (!Up)
        {
            Counters.InputDrop();
            frame.Release();
            return;
        }
        Counters.Input(frame.Length);
        if (Bridge is { } bridge)
            bridge.Forward(this, frame);
        else
            frame.Release();
    }
}
