using System.Threading.Channels;

namespace IfApi.Frames;

/// <summary>
/// The frames an interface transmitted, waiting for its device's reader (the tap's <c>if_snd</c>).
/// Bounded, with one reader, the port's writer loop: when full, the newest frame is dropped and
/// counted as <c>oqdrops</c>, so a slow or stalled reader never grows memory and never holds up the
/// sender, which may be forwarding to every other port too.
/// </summary>
public sealed class TransmitQueue
{
    private readonly Channel<Frame> _channel;
    private readonly PortCounters _counters;

    public TransmitQueue(int capacity, PortCounters counters)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _counters = counters;
        _channel = Channel.CreateBounded<Frame>(
            new BoundedChannelOptions(capacity)
            {
                FullMode = BoundedChannelFullMode.DropWrite, // full: the newest frame goes, as IFQ_ENQUEUE drops
                SingleReader = true,
                SingleWriter = false,
                AllowSynchronousContinuations = false, // a sender never runs the reader's send
            },
            itemDropped: Dropped);
    }

    private void Dropped(Frame frame)
    {
        _counters.QueueFull();
        frame.Release();
    }

    /// <summary>Frames in the queue now.</summary>
    public int Count => _channel.Reader.Count;

    private static int _highWater;

    /// <summary>The most frames any transmit queue of this process has held, as its writer found them.</summary>
    public static int HighWater => Volatile.Read(ref _highWater);

    /// <summary>The writer found this many waiting; called once per wake-up, not per frame.</summary>
    public static void NoteDepth(int depth)
    {
        var seen = Volatile.Read(ref _highWater);
        while (depth > seen)
        {
            var was = Interlocked.CompareExchange(ref _highWater, depth, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    /// <summary>The writer loop's end.</summary>
    public ChannelReader<Frame> Reader => _channel.Reader;

    /// <summary>
    /// Queues a frame, taking over one of its references. Returns false when the queue is closed,
    /// and then releases the frame; a full queue drops and counts it, and returns true.
    /// </summary>
    public bool Enqueue(Frame frame)
    {
        if (_channel.Writer.TryWrite(frame))
            return true;
        frame.Release();
        return false;
    }

    /// <summary>Why the service closed the device under its reader (null while open, or closed by the reader).</summary>
    public string? Revoked { get; private set; }

    /// <summary>The service takes the device away from its reader (its lease was lost): the session ends with 1001 and this reason.</summary>
    public void Revoke(string reason)
    {
        Revoked = reason;
        Close();
    }

    /// <summary>The device closed: no more frames, and those queued are discarded (released, not counted).</summary>
    public void Close()
    {
        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var frame))
            frame.Release();
    }
}
