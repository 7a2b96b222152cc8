namespace IfApi.Domain;

/// <summary>A run of free units, both ends included.</summary>
public readonly record struct FreeRange(int Lo, int Hi)
{
    public bool Contains(int unit) => unit >= Lo && unit <= Hi;
}

/// <summary>
/// The set of free units of one pool (a cloner's units, or the interface indexes), kept as disjoint
/// ranges the way the kernel's <c>unrhdr</c> keeps runs, so that the lowest free unit is found
/// without looking at what is allocated. Implemented in memory for tests and in the store for the
/// service; the caller holds the pool's lock for as long as it uses it.
/// </summary>
public interface IUnitPool
{
    /// <summary>The lowest free range whose upper end is at or above <paramref name="atOrAbove"/>.</summary>
    ValueTask<FreeRange?> FindFreeAsync(int atOrAbove, CancellationToken ct);

    /// <summary>Marks <paramref name="unit"/>, which lies in <paramref name="range"/>, allocated.</summary>
    ValueTask TakeAsync(FreeRange range, int unit, CancellationToken ct);

    /// <summary>Marks an allocated unit free again, joining it with free neighbours.</summary>
    ValueTask ReleaseAsync(int unit, CancellationToken ct);
}

public static class UnitAllocator
{
    /// <summary>
    /// <c>ifc_alloc_unit</c>. A specific unit: ENOSPC above <paramref name="maxUnit"/>, EEXIST when it is
    /// allocated or when its name is held by another (e.g. renamed) interface. A wildcard: the lowest
    /// free unit, moving past units whose name is held (<c>ifc_alloc_unit_next</c>); ENOSPC when none is left.
    /// </summary>
    public static async ValueTask<int> AllocateAsync(
        IUnitPool pool,
        int? requested,
        int maxUnit,
        Func<int, CancellationToken, ValueTask<bool>> nameHeld,
        CancellationToken ct,
        string? ioctl = Ioctl.IfCreate)
    {
        if (requested is int unit)
        {
            if (unit > maxUnit)
                throw new IfError(Errno.ENOSPC, $"unit {unit} is above the cloner's maximum {maxUnit}", ioctl);
            var range = await pool.FindFreeAsync(unit, ct);
            if (range is not { } r || !r.Contains(unit) || await nameHeld(unit, ct))
                throw new IfError(Errno.EEXIST, $"unit {unit} is in use", ioctl);
            await pool.TakeAsync(r, unit, ct);
            return unit;
        }

        var at = 0;
        while (true)
        {
            var range = await pool.FindFreeAsync(at, ct);
            if (range is not { } r)
                throw new IfError(Errno.ENOSPC, "no free unit is left", ioctl);
            var candidate = Math.Max(r.Lo, at);
            if (candidate > maxUnit)
                throw new IfError(Errno.ENOSPC, "no free unit is left", ioctl);
            if (!await nameHeld(candidate, ct))
            {
                await pool.TakeAsync(r, candidate, ct);
                return candidate;
            }
            if (candidate == int.MaxValue)
                throw new IfError(Errno.ENOSPC, "no free unit is left", ioctl);
            at = candidate + 1;
        }
    }

    /// <summary>What taking <paramref name="unit"/> out of <paramref name="range"/> leaves: up to two ranges.</summary>
    public static (FreeRange? Left, FreeRange? Right) Split(FreeRange range, int unit)
    {
        if (!range.Contains(unit))
            throw new ArgumentOutOfRangeException(nameof(unit), unit, $"not in {range}");
        FreeRange? left = unit > range.Lo ? new FreeRange(range.Lo, unit - 1) : null;
        FreeRange? right = unit < range.Hi ? new FreeRange(unit + 1, range.Hi) : null;
        return (left, right);
    }
}

/// <summary>An <see cref="IUnitPool"/> in memory, for tests and for reasoning.</summary>
public sealed class InMemoryUnitPool : IUnitPool
{
    // Ordered by upper end; ranges are disjoint so this is also the order of their lower ends.
    private readonly SortedSet<FreeRange> _free = new(Comparer<FreeRange>.Create((a, b) => a.Hi.CompareTo(b.Hi)));

    public InMemoryUnitPool(int lo, int hi) => _free.Add(new FreeRange(lo, hi));

    public IReadOnlyCollection<FreeRange> Ranges => _free;

    public ValueTask<FreeRange?> FindFreeAsync(int atOrAbove, CancellationToken ct)
    {
        var view = _free.GetViewBetween(new FreeRange(atOrAbove, atOrAbove), new FreeRange(int.MaxValue, int.MaxValue));
        return ValueTask.FromResult<FreeRange?>(view.Count == 0 ? null : view.Min);
    }

    public ValueTask TakeAsync(FreeRange range, int unit, CancellationToken ct)
    {
        var (left, right) = UnitAllocator.Split(range, unit);
        _free.Remove(range);
        if (left is { } l)
            _free.Add(l);
        if (right is { } r)
            _free.Add(r);
        return ValueTask.CompletedTask;
    }

    public ValueTask ReleaseAsync(int unit, CancellationToken ct)
    {
        FreeRange? left = null, right = null;
        foreach (var r in _free)
        {
            if (r.Contains(unit))
                return ValueTask.CompletedTask; // already free
            if (r.Hi == unit - 1)
                left = r;
            else if (r.Lo == unit + 1)
                right = r;
        }
        var lo = unit;
        var hi = unit;
        if (left is { } l)
        {
            _free.Remove(l);
            lo = l.Lo;
        }
        if (right is { } rr)
        {
            _free.Remove(rr);
            hi = rr.Hi;
        }
        _free.Add(new FreeRange(lo, hi));
        return ValueTask.CompletedTask;
    }
}
