namespace IfApi.Frames;

/// <summary>
/// An interface's packet counters (<c>if_data</c>), live: the frame path adds to them without locks
/// and a read takes a snapshot.
/// </summary>
public sealed class PortCounters
{
    private long _ipackets, _opackets, _ibytes, _obytes, _ierrors, _oerrors, _iqdrops, _oqdrops;
    private long _down, _queueFull, _loopCut, _noReader; // why, for /metrics

    /// <summary>A frame received by the interface (written into the device, or forwarded to it).</summary>
    public void Input(int bytes)
    {
        Interlocked.Increment(ref _ipackets);
        Interlocked.Add(ref _ibytes, bytes);
    }

    /// <summary>A frame the interface transmitted: read from the device, or dropped for want of a reader (<c>tap_start</c>).</summary>
    public void Output(int bytes)
    {
        Interlocked.Increment(ref _opackets);
        Interlocked.Add(ref _obytes, bytes);
    }

    /// <summary>A frame refused on input: shorter than a header or longer than the MTU allows.</summary>
    public void InputError() => Interlocked.Increment(ref _ierrors);

    public void OutputError() => Interlocked.Increment(ref _oerrors);

    /// <summary>A frame dropped on input: the interface was down.</summary>
    public void InputDrop()
    {
        Interlocked.Increment(ref _iqdrops);
        Interlocked.Increment(ref _down);
    }

    /// <summary>A frame dropped on output because the interface was down.</summary>
    public void OutputDrop()
    {
        Interlocked.Increment(ref _oqdrops);
        Interlocked.Increment(ref _down);
    }

    /// <summary>A frame dropped on output because the transmit queue was full (<c>IFQ_ENQUEUE</c>).</summary>
    public void QueueFull()
    {
        Interlocked.Increment(ref _oqdrops);
        Interlocked.Increment(ref _queueFull);
    }

    /// <summary>A frame dropped on output to cut a loop of cables (there is no STP).</summary>
    public void LoopCut()
    {
        Interlocked.Increment(ref _oqdrops);
        Interlocked.Increment(ref _loopCut);
    }

    /// <summary>A frame transmitted while nobody had the device open: counted as sent, and dropped (<c>tap_start</c>).</summary>
    public void NoReader(int bytes)
    {
        Output(bytes);
        Interlocked.Increment(ref _noReader);
    }

    /// <summary>Drops by reason, for <c>/metrics</c>.</summary>
    /// <remarks>Each reason its own counter, read as it is: never derived from others, so never seen going back.</remarks>
    public DropCounts Drops() => new(Interlocked.Read(ref _down), Interlocked.Read(ref _queueFull), Interlocked.Read(ref _loopCut),
        Interlocked.Read(ref _noReader), Interlocked.Read(ref _ierrors), Interlocked.Read(ref _oerrors));

    public PortStats Snapshot() => new(
        Interlocked.Read(ref _ipackets), Interlocked.Read(ref _opackets), Interlocked.Read(ref _ibytes), Interlocked.Read(ref _obytes),
        Interlocked.Read(ref _ierrors), Interlocked.Read(ref _oerrors), Interlocked.Read(ref _iqdrops), Interlocked.Read(ref _oqdrops));
}

/// <summary>An interface's counters at one moment (<c>if_data</c>); all zero while nothing has passed.</summary>
public readonly record struct PortStats(long Ipackets, long Opackets, long Ibytes, long Obytes, long Ierrors, long Oerrors, long Iqdrops, long Oqdrops);

/// <summary>Frames dropped, by reason: down, queue full, a loop cut, nobody reading, bad length on input, too long for the MTU on output.</summary>
public readonly record struct DropCounts(long Down, long QueueFull, long LoopCut, long NoReader, long InputErrors, long OutputErrors)
{
    public static DropCounts operator +(DropCounts a, DropCounts b) => new(a.Down + b.Down, a.QueueFull + b.QueueFull,
        a.LoopCut + b.LoopCut, a.NoReader + b.NoReader, a.InputErrors + b.InputErrors, a.OutputErrors + b.OutputErrors);

    public static DropCounts operator -(DropCounts a, DropCounts b) => new(a.Down - b.Down, a.QueueFull - b.QueueFull,
        a.LoopCut - b.LoopCut, a.NoReader - b.NoReader, a.InputErrors - b.InputErrors, a.OutputErrors - b.OutputErrors);
}
