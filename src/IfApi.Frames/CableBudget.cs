namespace IfApi.Frames;

/// <summary>
/// What the frames one arrival causes may still do on cables (epairs). A frame that comes in from
/// outside (written into a device, sent by the transmit endpoint, sent by a bridge itself) starts a
/// budget; every copy of it that bridges flood and cables carry on is passed the same one, down the
/// calls that carry it, so it lives on the stack of that one delivery and nowhere else.
/// </summary>
/// <remarks>
/// Bridges joined by epairs in a ring would pass a flood round for ever, on this thread's stack, and
/// a mesh of them would multiply it at every bridge: past <see cref="Port.MaxCableHops"/> cables in
/// a row, or <see cref="Port.MaxCableCrossings"/> crossings for everything the arrival caused, a
/// frame is dropped instead (there is no STP).
/// </remarks>
internal ref struct CableBudget
{
    private int _hops;      // cables crossed in a row by the copy in hand
    private int _crossings; // cables crossed by every copy so far

    /// <summary>The arrival came from another replica: it goes on only inside this one (split horizon).</summary>
    public bool FromReplica;

    /// <summary>Takes one crossing for a frame about to go down a cable; false when it must be dropped instead.</summary>
    public bool TryCross()
    {
        if (_hops >= Port.MaxCableHops || _crossings >= Port.MaxCableCrossings)
            return false;
        _hops++;
        _crossings++;
        return true;
    }

    /// <summary>All the copy caused beyond the cable is done: the next copy sent from this side is one cable nearer its start.</summary>
    public void Returned() => _hops--;
}
