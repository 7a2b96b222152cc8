namespace IfApi.Domain;

/// <summary>A run of free units, both ends included.</summary>
public readonly record struct FreeRange(int Lo, int Hi)
{
    public bool Contains(int unit) => unit >= Lo && unit <= Hi;
}

/// <summary>
/// The free units of one pool (a cloner's units, or the interface indexes), as the kernel's
/// <c>unrhdr</c>. A unit is claimed for one caller at a time: several callers may claim units of
/// one pool at once and each gets another, as several threads calling <c>alloc_unr</c> do. In the
/// store a claim lasts until the caller's transaction ends, and a rolled-back transaction gives
/// its claims back by itself (<c>ifc_free_unit</c> on a failed create).
/// </summary>
public interface IUnitPool
{
    /// <summary>Claims the lowest free unit at or above <paramref name="atOrAbove"/>; null when none is free.</summary>
    ValueTask<int?> ClaimLowestAsync(int atOrAbove, CancellationToken ct);

    /// <summary>Claims <paramref name="unit"/> (<c>alloc_unr_specific</c>); false when it is allocated or claimed by another.</summary>
    ValueTask<bool> ClaimAsync(int unit, CancellationToken ct);

    /// <summary>Marks an allocated or claimed unit free again (<c>free_unr</c>).</summary>
    ValueTask ReleaseAsync(int unit, CancellationToken ct);
}

public static class UnitAllocator
{
    /// <summary>
    /// <c>ifc_alloc_unit</c>. A specific unit (<c>ifc_alloc_unit_specific</c>): ENOSPC above
    /// <paramref name="maxUnit"/>, EEXIST when it is allocated or when its name is held by another (e.g.
    /// renamed) interface. A wildcard (<c>ifc_alloc_unit_next</c>): the lowest free unit, moving past
    /// units whose name is held, which stay free; ENOSPC when none is left.
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
            if (!await pool.ClaimAsync(unit, ct))
                throw new IfError(Errno.EEXIST, $"unit {unit} is in use", ioctl);
            if (await nameHeld(unit, ct))
            {
                await pool.ReleaseAsync(unit, ct);
                throw new IfError(Errno.EEXIST, $"unit {unit} is in use", ioctl);
            }
            return unit;
        }

        var at = 0;
        while (true)
        {
            if (await pool.ClaimLowestAsync(at, ct) is not int candidate)
                throw new IfError(Errno.ENOSPC, "no free unit is left", ioctl);
            if (candidate > maxUnit)
            {
                await pool.ReleaseAsync(candidate, ct);
                throw new IfError(Errno.ENOSPC, "no free unit is left", ioctl);
            }
            if (!await nameHeld(candidate, ct))
                return candidate;
            await pool.ReleaseAsync(candidate, ct);
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

    public ValueTask<int?> ClaimLowestAsync(int atOrAbove, CancellationToken ct)
    {
        var view = _free.GetViewBetween(new FreeRange(atOrAbove, atOrAbove), new FreeRange(int.MaxValue, int.MaxValue));
        if (view.Count == 0)
            return ValueTask.FromResult<int?>(null);
        var range = view.Min;
        var unit = Math.Max(range.Lo, atOrAbove);
        Take(range, unit);
        return ValueTask.FromResult<int?>(unit);
    }

    public ValueTask<bool> ClaimAsync(int unit, CancellationToken ct)
    {
        var view = _free.GetViewBetween(new FreeRange(unit, unit), new FreeRange(int.MaxValue, int.MaxValue));
        if (view.Count == 0 || !view.Min.Contains(unit))
            return ValueTask.FromResult(false);
        Take(view.Min, unit);
        return ValueTask.FromResult(true);
    }

    private void Take(FreeRange range, int unit)
    {
        var (left, right) = UnitAllocator.Split(range, unit);
        _free.Remove(range);
        if (left is { } l)
            _free.Add(l);
        if (right is { } r)
            _free.Add(r);
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
