using System.Buffers;
using Microsoft.Extensions.ObjectPool;

namespace IfApi.Tap;

/// <summary>
/// One Ethernet frame in a pooled buffer, shared by every port it is sent to (the mbuf a flood would
/// copy, referenced instead). Whoever holds a reference calls <see cref="Release"/> once; the last
/// release returns the buffer and the frame to their pools, so a steady flow of frames allocates
/// nothing.
/// </summary>
public sealed class Frame
{
    /// <summary>The largest frame a port can carry: a jumbo MTU, its header and a VLAN tag.</summary>
    public const int MaxLength = 65535 + 14 + 4;

    private static readonly ObjectPool<Frame> Pool = new DefaultObjectPool<Frame>(new Policy(), maximumRetained: 8192);

    private byte[] _buffer = [];
    private int _length;
    private int _references;

    private Frame()
    {
    }

    /// <summary>Frames are made only here, for the pool: callers rent them.</summary>
    private sealed class Policy : PooledObjectPolicy<Frame>
    {
        public override Frame Create() => new();

        public override bool Return(Frame frame) => true;
    }

    /// <summary>A frame of <paramref name="length"/> bytes (contents unset) with one reference, the caller's.</summary>
    public static Frame Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxLength);
        var frame = Pool.Get();
        frame._buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        frame._length = length;
        frame._references = 1;
        return frame;
    }

    /// <summary>A frame holding a copy of <paramref name="bytes"/>, with one reference.</summary>
    public static Frame Copy(ReadOnlySpan<byte> bytes)
    {
        var frame = Rent(bytes.Length);
        bytes.CopyTo(frame._buffer);
        return frame;
    }

    public int Length => _length;

    /// <summary>How many holders the frame has now (0 once it went back to the pool).</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>The frame's bytes: the buffer to fill after <see cref="Rent"/>, and to send.</summary>
    public Memory<byte> Memory => _buffer.AsMemory(0, _length);

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);

    /// <summary>Takes <paramref name="count"/> more references, one for each further holder (a port's queue).</summary>
    public void AddReferences(int count)
    {
        if (Interlocked.Add(ref _references, count) <= count)
            throw new InvalidOperationException("a frame was referenced after its last release");
    }

    /// <summary>Gives up one reference; the last one returns the frame to the pool.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left > 0)
            return;
        if (left < 0)
            throw new InvalidOperationException("a frame was released more often than it was referenced");
        var buffer = _buffer;
        (_buffer, _length) = ([], 0);
        ArrayPool<byte>.Shared.Return(buffer);
        Pool.Return(this);
    }
}
