using System.Buffers;
using System.Numerics;
using Microsoft.Extensions.ObjectPool;

namespace IfApi.Frames;

/// <summary>
/// One Ethernet frame in a pooled buffer, shared by every port it is sent to (the mbuf a flood would
/// copy, referenced instead). Whoever holds a reference calls <see cref="Release"/> once; the last
/// release returns the frame, its buffer still attached, to the pool of its size class, so a steady
/// flow of frames allocates nothing.
/// </summary>
/// <remarks>
/// Not <see cref="ArrayPool{T}.Shared"/>: it keeps a few arrays per core and size, while a port's
/// queue alone may hold a thousand frames; past that it allocates afresh for every frame. Here each
/// size class (powers of two from 128 bytes) keeps up to a retention limit of frames: many of the
/// sizes Ethernet uses most, few of the jumbo ones.
/// </remarks>
public sealed class Frame
{
    /// <summary>The largest frame a port can carry: a jumbo MTU, its header and a VLAN tag.</summary>
    public const int MaxLength = 65535 + 14 + 4;

    private const int SmallestClass = 7; // 128 bytes
    private static readonly ObjectPool<Frame>[] Pools = Enumerable.Range(SmallestClass, ClassOf(MaxLength) + 1)
        .Select(shift => (ObjectPool<Frame>)new DefaultObjectPool<Frame>(new Policy(1 << shift), maximumRetained: shift <= 11 ? 16384 : shift <= 14 ? 1024 : 64))
        .ToArray();

    private readonly byte[] _buffer;
    private readonly int _class;
    private int _length;
    private int _references;

    private Frame(int size, int sizeClass) => (_buffer, _class) = (new byte[size], sizeClass);

    /// <summary>Frames are made only here, for the pools: callers rent them.</summary>
    private sealed class Policy(int size) : PooledObjectPolicy<Frame>
    {
        public override Frame Create() => new(size, ClassOf(size));

        public override bool Return(Frame frame) => true;
    }

    /// <summary>The pool a frame of <paramref name="length"/> bytes comes from: 0 for up to 128 bytes, then one per doubling.</summary>
    private static int ClassOf(int length) =>
        length <= 1 << SmallestClass ? 0 : BitOperations.Log2((uint)(length - 1)) + 1 - SmallestClass;

    /// <summary>A frame of <paramref name="length"/> bytes (contents unset) with one reference, the caller's.</summary>
    public static Frame Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxLength);
        var frame = Pools[ClassOf(length)].Get();
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

    /// <summary>Keeps only the first <paramref name="length"/> bytes (a frame rented for the most it could be).</summary>
    public void Shorten(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _length);
        _length = length;
    }

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
        _length = 0;
        Pools[_class].Return(this);
    }
}
