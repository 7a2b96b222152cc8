using System.Buffers.Binary;

namespace IfApi.Frames.Wire;

/// <summary>
/// The batched framing of a tap's device (the subprotocol <see cref="Protocol"/>): a binary message
/// carries one or more frames, each preceded by its length as two bytes, big-endian, so a frame of
/// at most <see cref="MaxFrame"/> bytes; a message ends on a frame's end. The service, ifapi-relay
/// and their tests all write it through here and read it through <see cref="BatchReader"/>.
/// </summary>
public static class BatchFraming
{
    /// <summary>The <c>Sec-WebSocket-Protocol</c> a client asks for to speak it.</summary>
    public const string Protocol = "ifapi.batch";

    /// <summary>Bytes of a record's length, in front of its frame.</summary>
    public const int LengthBytes = 2;

    /// <summary>The longest frame a record carries: a jumbo MTU above 65521 cannot be framed.</summary>
    public const int MaxFrame = ushort.MaxValue;

    /// <summary>Whether a frame of <paramref name="length"/> bytes can be a record.</summary>
    public static bool Fits(int length) => (uint)length <= MaxFrame;

    /// <summary>Bytes the record of a frame of <paramref name="length"/> bytes takes.</summary>
    public static int RecordLength(int length) => LengthBytes + length;

    /// <summary>Writes the length of a record whose frame is (or will be) at <c>to[LengthBytes..]</c>.</summary>
    public static void WriteLength(Span<byte> to, int length)
    {
        if (!Fits(length))
            throw new ArgumentOutOfRangeException(nameof(length), length, $"a record's frame is at most {MaxFrame} bytes");
        BinaryPrimitives.WriteUInt16BigEndian(to, (ushort)length);
    }

    /// <summary>Writes <paramref name="frame"/> as one record; returns the bytes it took.</summary>
    public static int WriteRecord(Span<byte> to, ReadOnlySpan<byte> frame)
    {
        WriteLength(to, frame.Length);
        frame.CopyTo(to[LengthBytes..]);
        return LengthBytes + frame.Length;
    }
}

/// <summary>
/// The records of the batched framing in received bytes, which may end inside a record (a message
/// read in parts, or one cut short): <see cref="TryRead"/> stops before such a record, and
/// <see cref="Consumed"/> says how far the whole ones went.
/// </summary>
public ref struct BatchReader
{
    private readonly ReadOnlySpan<byte> _records;
    private int _consumed;

    public BatchReader(ReadOnlySpan<byte> records) => _records = records;

    /// <summary>Bytes of the whole records read so far.</summary>
    public readonly int Consumed => _consumed;

    /// <summary>Whether bytes are left that are not a whole record: at a message's end, a record cut short.</summary>
    public readonly bool HasPartialRecord => _consumed < _records.Length;

    /// <summary>The next record's frame; false when what is left is not a whole record.</summary>
    public bool TryRead(out ReadOnlySpan<byte> frame)
    {
        var rest = _records[_consumed..];
        if (rest.Length < BatchFraming.LengthBytes)
        {
            frame = default;
            return false;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(rest);
        if (rest.Length - BatchFraming.LengthBytes < length)
        {
            frame = default;
            return false;
        }
        frame = rest.Slice(BatchFraming.LengthBytes, length);
        _consumed += BatchFraming.LengthBytes + length;
        return true;
    }
}
