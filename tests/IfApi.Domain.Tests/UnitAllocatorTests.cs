using IfApi.Domain;

namespace IfApi.Domain.Tests;

public class UnitAllocatorTests
{
    private static readonly Func<int, CancellationToken, ValueTask<bool>> NoneHeld = (_, _) => ValueTask.FromResult(false);

    private static Func<int, CancellationToken, ValueTask<bool>> Held(params int[] units) =>
        (u, _) => ValueTask.FromResult(units.Contains(u));

    private static ValueTask<int> Wildcard(InMemoryUnitPool pool, int maxUnit = ClonerSpec.IfMaxUnit, Func<int, CancellationToken, ValueTask<bool>>? held = null) =>
        UnitAllocator.AllocateAsync(pool, null, maxUnit, held ?? NoneHeld, default);

    private static ValueTask<int> Specific(InMemoryUnitPool pool, int unit, int maxUnit = ClonerSpec.IfMaxUnit, Func<int, CancellationToken, ValueTask<bool>>? held = null) =>
        UnitAllocator.AllocateAsync(pool, unit, maxUnit, held ?? NoneHeld, default);

    [Fact]
    public async Task Wildcards_take_the_lowest_free_unit_and_fill_gaps()
    {
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        Assert.Equal(0, await Wildcard(pool));
        Assert.Equal(1, await Wildcard(pool));
        Assert.Equal(2, await Wildcard(pool));
        await pool.ReleaseAsync(1, default);
        Assert.Equal(1, await Wildcard(pool));
        Assert.Equal(3, await Wildcard(pool));
    }

    [Fact]
    public async Task A_specific_unit_leaves_the_units_below_it_free()
    {
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        Assert.Equal(5, await Specific(pool, 5));
        Assert.Equal(0, await Wildcard(pool));
        Assert.Equal([new FreeRange(1, 4), new FreeRange(6, ClonerSpec.IfMaxUnit)], pool.Ranges);
    }

    [Fact]
    public async Task A_specific_unit_in_use_is_EEXIST()
    {
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        await Specific(pool, 3);
        Assert.Equal(Errno.EEXIST, (await Assert.ThrowsAsync<IfError>(() => Specific(pool, 3).AsTask())).Errno);
    }

    [Fact]
    public async Task A_specific_unit_whose_name_is_held_is_EEXIST_and_stays_free()
    {
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        Assert.Equal(Errno.EEXIST, (await Assert.ThrowsAsync<IfError>(() => Specific(pool, 0, held: Held(0)).AsTask())).Errno);
        Assert.Equal([new FreeRange(0, ClonerSpec.IfMaxUnit)], pool.Ranges);
    }

    [Fact]
    public async Task Wildcards_skip_units_whose_name_a_renamed_interface_holds()
    {
        // rtap5 renamed to rtap0: unit 5 is allocated, the name rtap0 is held.
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        await Specific(pool, 5);
        Assert.Equal(1, await Wildcard(pool, held: Held(0)));
        Assert.Equal(2, await Wildcard(pool, held: Held(0)));
        // The skipped unit stays free for when its name is released.
        Assert.Equal(0, await Wildcard(pool));
    }

    [Fact]
    public async Task Wildcards_move_past_held_names_and_allocated_units_alike()
    {
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        await Specific(pool, 1);
        await Specific(pool, 3);
        Assert.Equal(4, await Wildcard(pool, held: Held(0, 2)));
    }

    [Fact]
    public async Task MaxUnit_is_the_last_unit_handed_out()
    {
        var pool = new InMemoryUnitPool(0, 2);
        Assert.Equal(2, await Specific(pool, 2, maxUnit: 2));
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<IfError>(() => Specific(pool, 3, maxUnit: 2).AsTask())).Errno);
        Assert.Equal(0, await Wildcard(pool, 2));
        Assert.Equal(1, await Wildcard(pool, 2));
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<IfError>(() => Wildcard(pool, 2).AsTask())).Errno);
    }

    [Fact]
    public async Task A_full_pool_whose_last_free_unit_is_held_is_ENOSPC()
    {
        var pool = new InMemoryUnitPool(0, 1);
        await Specific(pool, 0, maxUnit: 1);
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<IfError>(() => Wildcard(pool, 1, Held(1)).AsTask())).Errno);
    }

    [Fact]
    public async Task IF_MAXUNIT_itself_can_be_allocated_and_one_above_cannot()
    {
        var pool = new InMemoryUnitPool(0, ClonerSpec.IfMaxUnit);
        Assert.Equal(32767, await Specific(pool, 32767));
        Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<IfError>(() => Specific(pool, 32768).AsTask())).Errno);
    }

    [Fact]
    public async Task Releasing_joins_free_neighbours_into_one_range()
    {
        var pool = new InMemoryUnitPool(0, 9);
        for (var i = 0; i < 10; i++)
            await Wildcard(pool, 9);
        Assert.Empty(pool.Ranges);
        await pool.ReleaseAsync(3, default);
        await pool.ReleaseAsync(5, default);
        Assert.Equal([new FreeRange(3, 3), new FreeRange(5, 5)], pool.Ranges);
        await pool.ReleaseAsync(4, default);
        Assert.Equal([new FreeRange(3, 5)], pool.Ranges);
    }

    [Theory]
    [InlineData(0, 9, 0, null, 1, 9)]
    [InlineData(0, 9, 9, 0, null, null)]
    [InlineData(0, 9, 4, 0, 5, 9)]
    [InlineData(4, 4, 4, null, null, null)]
    public void Split_leaves_what_is_left_on_either_side(int lo, int hi, int unit, int? leftLo, int? rightLo, int? rightHi)
    {
        var (left, right) = UnitAllocator.Split(new FreeRange(lo, hi), unit);
        Assert.Equal(leftLo, left?.Lo);
        if (left is { } l)
            Assert.Equal(unit - 1, l.Hi);
        Assert.Equal(rightLo, right?.Lo);
        Assert.Equal(rightHi, right?.Hi);
    }

    [Fact]
    public async Task Interface_indexes_start_at_1_and_reuse_the_lowest_free()
    {
        var pool = new InMemoryUnitPool(1, int.MaxValue);
        Assert.Equal(1, await Wildcard(pool, int.MaxValue));
        Assert.Equal(2, await Wildcard(pool, int.MaxValue));
        Assert.Equal(3, await Wildcard(pool, int.MaxValue));
        await pool.ReleaseAsync(2, default);
        Assert.Equal(2, await Wildcard(pool, int.MaxValue));
    }
}
