namespace IfApi.Frames.Nats;

/// <summary>Why a frame between replicas was dropped.</summary>
public enum CrossingDrop
{
    /// <summary>NATS could not be reached when the frame was to go (<c>nats-down</c>).</summary>
    Down,

    /// <summary>The queue of frames waiting to go to NATS was full: NATS, or this replica's sending, is behind (<c>send-queue-full</c>).</summary>
    QueueFull,

    /// <summary>NATS's client held as many messages for a subscription as it may: this replica is behind in reading (<c>receive-queue-full</c>).</summary>
    ReceiveFull,

    /// <summary>A frame came for a bridge or device this replica no longer serves (<c>not-served</c>).</summary>
    NotServed,

    /// <summary>A message that is not this version's format (<c>malformed</c>).</summary>
    Malformed,
}

/// <summary>What crossed between this replica and the others, for <c>/metrics</c>.</summary>
public sealed class CrossingCounters
{
    private long _framesOut, _messagesOut, _bytesOut, _framesIn, _messagesIn, _bytesIn;
    private readonly long[] _drops = new long[Enum.GetValues<CrossingDrop>().Length];

    public static readonly IReadOnlyList<(CrossingDrop Reason, string Name)> Reasons =
    [
        (CrossingDrop.Down, "nats-down"), (CrossingDrop.QueueFull, "send-queue-full"), (CrossingDrop.ReceiveFull, "receive-queue-full"),
        (CrossingDrop.NotServed, "not-served"), (CrossingDrop.Malformed, "malformed"),
    ];

    public void Sent(int frames, int bytes)
    {
        Interlocked.Add(ref _framesOut, frames);
        Interlocked.Increment(ref _messagesOut);
        Interlocked.Add(ref _bytesOut, bytes);
    }

    public void Received(int frames, int bytes)
    {
        Interlocked.Add(ref _framesIn, frames);
        Interlocked.Increment(ref _messagesIn);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    public void Drop(CrossingDrop reason, int frames = 1) => Interlocked.Add(ref _drops[(int)reason], frames);

    public long Dropped(CrossingDrop reason) => Interlocked.Read(ref _drops[(int)reason]);

    public (long Frames, long Messages, long Bytes) Out => (Interlocked.Read(ref _framesOut), Interlocked.Read(ref _messagesOut), Interlocked.Read(ref _bytesOut));

    public (long Frames, long Messages, long Bytes) In => (Interlocked.Read(ref _framesIn), Interlocked.Read(ref _messagesIn), Interlocked.Read(ref _bytesIn));
}
