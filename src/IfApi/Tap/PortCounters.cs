using IfApi.Interfaces;

namespace IfApi.Tap;

/// <summary>
/// An interface's packet counters (<c>if_data</c>), live: the frame path adds to them without locks
/// and a read takes a snapshot.
/// </summary>
public sealed class PortCounters
{
    private long _ipackets, _opackets, _ibytes, _obytes, _ierrors, _oerrors, _iqdrops, _oqdrops;

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
    public void InputDrop() => Interlocked.Increment(ref _iqdrops);

    /// <summary>A frame dropped on output: the transmit queue was full, or the interface down.</summary>
    public void OutputDrop() => Interlocked.Increment(ref _oqdrops);

    public InterfaceStats Snapshot() => new(
        Interlocked.Read(ref _ipackets), Interlocked.Read(ref _opackets), Interlocked.Read(ref _ibytes), Interlocked.Read(ref _obytes),
        Interlocked.Read(ref _ierrors), Interlocked.Read(ref _oerrors), Interlocked.Read(ref _iqdrops), Interlocked.Read(ref _oqdrops));
}
