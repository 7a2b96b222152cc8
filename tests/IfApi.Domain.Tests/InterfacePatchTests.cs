using IfApi.Domain;

namespace IfApi.Domain.Tests;

public class InterfacePatchTests
{
    private static readonly InterfaceAttributes Tap0 =
        new("tap0", Kinds.EthernetFlags | IfFlags.Running, 1500, 0, null, "f2:0b:a4:00:00:01");

    private static readonly InterfaceAttributes Lo0 = new("lo0", IfFlags.Loopback | IfFlags.Multicast, 16384, 0, null, null);

    private static IfError Refused(InterfacePatch p, InterfaceAttributes a, InterfaceKind kind = InterfaceKind.Tap) =>
        Assert.Throws<IfError>(() => p.Apply(a, kind));

    [Fact]
    public void An_empty_patch_changes_nothing()
    {
        Assert.True(new InterfacePatch().IsEmpty);
        Assert.Equal(Tap0, new InterfacePatch().Apply(Tap0, InterfaceKind.Tap));
    }

    [Theory]
    [InlineData("", Errno.EINVAL)]
    [InlineData("wan0123456789012", Errno.ENAMETOOLONG)]
    [InlineData("a/b", Errno.EINVAL)]
    public void Bad_names_are_refused_as_SIOCSIFNAME_does(string name, Errno errno)
    {
        var e = Refused(new InterfacePatch { Name = name }, Tap0);
        Assert.Equal((errno, Ioctl.SetName), (e.Errno, e.Ioctl));
    }

    [Theory]
    [InlineData(71, false)]
    [InlineData(72, true)]
    [InlineData(65535, true)]
    [InlineData(65536, false)]
    public void The_mtu_is_bounded(int mtu, bool ok)
    {
        var p = new InterfacePatch { Mtu = mtu };
        if (ok)
            Assert.Equal(mtu, p.Apply(Tap0, InterfaceKind.Tap).Mtu);
        else
            Assert.Equal((Errno.EINVAL, Ioctl.SetMtu), (Refused(p, Tap0).Errno, Refused(p, Tap0).Ioctl));
    }

    [Fact]
    public void A_description_is_at_most_1023_bytes_and_empty_or_cleared_means_none()
    {
        var described = new InterfacePatch { Description = new string('é', 511) + "x" }.Apply(Tap0, InterfaceKind.Tap); // 1023 bytes
        Assert.Equal(1023, System.Text.Encoding.UTF8.GetByteCount(described.Description!));
        Assert.Equal(Errno.ENAMETOOLONG, Refused(new InterfacePatch { Description = new string('é', 512) }, Tap0).Errno);
        Assert.Null(new InterfacePatch { Description = "" }.Apply(described, InterfaceKind.Tap).Description);
        Assert.Null(new InterfacePatch { ClearsDescription = true }.Apply(described, InterfaceKind.Tap).Description);
    }

    [Fact]
    public void A_description_with_a_NUL_in_it_is_EINVAL()
    {
        var e = Refused(new InterfacePatch { Description = "up\0link" }, Tap0);
        Assert.Equal((Errno.EINVAL, Ioctl.SetDescription), (e.Errno, e.Ioctl));
    }

    [Fact]
    public void Flags_set_the_changeable_bits_and_leave_the_others_as_they_are()
    {
        // Asking for loopback and no broadcast changes neither; up and link0 are taken.
        var next = new InterfacePatch { Flags = IfFlags.Up | IfFlags.Link0 | IfFlags.Loopback }.Apply(Tap0, InterfaceKind.Tap);
        Assert.Equal(Kinds.EthernetFlags | IfFlags.Running | IfFlags.Up | IfFlags.Link0, next.Flags);
        var down = new InterfacePatch { Flags = IfFlags.None }.Apply(next, InterfaceKind.Tap);
        Assert.Equal(Kinds.EthernetFlags | IfFlags.Running, down.Flags);
        Assert.Equal(IfFlags.Loopback | IfFlags.Multicast | IfFlags.Up, new InterfacePatch { Up = true }.Apply(Lo0, InterfaceKind.Loop).Flags);
    }

    [Fact]
    public void Up_and_flags_must_agree_when_both_are_given()
    {
        Assert.Equal(IfFlags.Up, new InterfacePatch { Up = true, Flags = IfFlags.Up }.Apply(Tap0, InterfaceKind.Tap).Flags & IfFlags.Up);
        var e = Refused(new InterfacePatch { Up = false, Flags = IfFlags.Up }, Tap0);
        Assert.Equal((Errno.EINVAL, Ioctl.SetFlags), (e.Errno, e.Ioctl));
    }

    [Fact]
    public void A_link_layer_address_is_a_unicast_Ethernet_address_on_a_kind_that_has_one()
    {
        Assert.Equal("02:00:00:00:00:07", new InterfacePatch { Lladdr = "2:0:0:0:0:7" }.Apply(Tap0, InterfaceKind.Tap).Lladdr);
        Assert.Equal(Errno.EINVAL, Refused(new InterfacePatch { Lladdr = "ff:ff:ff:ff:ff:ff" }, Tap0).Errno);
        Assert.Equal(Errno.EINVAL, Refused(new InterfacePatch { Lladdr = "nonsense" }, Tap0).Errno);
        var e = Refused(new InterfacePatch { Lladdr = "02:00:00:00:00:07" }, Lo0, InterfaceKind.Loop);
        Assert.Equal((Errno.EOPNOTSUPP, Ioctl.SetLladdr), (e.Errno, e.Ioctl));
    }

    [Fact]
    public void A_patch_is_checked_whole_before_anything_applies()
    {
        // A valid rename next to a bad mtu: nothing is returned to apply.
        Assert.Equal(Errno.EINVAL, Refused(new InterfacePatch { Name = "wan0", Mtu = 10 }, Tap0).Errno);
        var all = new InterfacePatch { Name = "wan0", Description = "uplink", Mtu = 9000, Metric = 5, Up = true, Lladdr = "02:00:00:00:00:09" }
            .Apply(Tap0, InterfaceKind.Tap);
        Assert.Equal(new InterfaceAttributes("wan0", Tap0.Flags | IfFlags.Up, 9000, 5, "uplink", "02:00:00:00:00:09"), all);
    }
}
