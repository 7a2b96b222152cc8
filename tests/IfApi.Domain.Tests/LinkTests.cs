using IfApi.Domain;

namespace IfApi.Domain.Tests;

public class LinkTests
{
    [Theory]
    [InlineData("f2:0b:a4:00:00:01", "f2:0b:a4:00:00:01")]
    [InlineData("F2:B:A4:0:0:1", "f2:0b:a4:00:00:01")]
    public void Ethernet_addresses_parse_to_the_canonical_form(string text, string canonical)
    {
        Assert.True(Lladdr.TryParse(text, out var c));
        Assert.Equal(canonical, c);
    }

    [Theory]
    [InlineData("")]
    [InlineData("f2:0b:a4:00:00")]
    [InlineData("f2:0b:a4:00:00:01:02")]
    [InlineData("f2-0b-a4-00-00-01")]
    [InlineData("g2:0b:a4:00:00:01")]
    [InlineData("f2:0b:a4:00:00:100")]
    public void Malformed_addresses_do_not_parse(string text) => Assert.False(Lladdr.TryParse(text, out _));

    [Theory]
    [InlineData("02:00:00:00:00:01", true)]
    [InlineData("01:00:5e:00:00:01", false)]
    [InlineData("ff:ff:ff:ff:ff:ff", false)]
    [InlineData("00:00:00:00:00:00", false)]
    public void Only_unicast_addresses_are_station_addresses(string addr, bool unicast) => Assert.Equal(unicast, Lladdr.IsUnicast(addr));

    [Fact]
    public void Taps_get_the_f2_0b_a4_prefix_and_random_low_bytes()
    {
        var a = Lladdr.NewTap();
        Assert.StartsWith("f2:0b:a4:", a, StringComparison.Ordinal);
        Assert.True(Lladdr.IsUnicast(a));
        Assert.Contains(Enumerable.Range(0, 20).Select(_ => Lladdr.NewTap()), x => x != a);
    }

    [Fact]
    public void Epair_ends_are_told_apart_by_the_last_byte()
    {
        Assert.EndsWith(":0a", Lladdr.NewEpair('a'), StringComparison.Ordinal);
        Assert.EndsWith(":0b", Lladdr.NewEpair('b'), StringComparison.Ordinal);
    }

    [Fact]
    public void Kinds_have_the_kernels_defaults()
    {
        Assert.Equal((16384, IfFlags.Loopback | IfFlags.Multicast, (string?)null),
            (InterfaceKind.Loop.DefaultMtu(), InterfaceKind.Loop.DefaultFlags(), InterfaceKind.Loop.NewLladdr()));
        Assert.Equal((1500, IfFlags.Broadcast | IfFlags.Simplex | IfFlags.Multicast),
            (InterfaceKind.Tap.DefaultMtu(), InterfaceKind.Tap.DefaultFlags()));
        Assert.Equal(["up", "broadcast", "running", "simplex", "multicast"],
            IfFlagNames.ToNames(IfFlags.Up | IfFlags.Broadcast | IfFlags.Running | IfFlags.Simplex | IfFlags.Multicast));
    }
}
