using System.Net;
using System.Net.Http.Json;
using IfApi.Store;
using Microsoft.Extensions.DependencyInjection;

namespace IfApi.Tests;

public sealed class SqliteEventTests(SqliteStore store) : EventTests<SqliteStore>(store);

public sealed class PostgresEventTests(PostgresStore store) : EventTests<PostgresStore>(store);

/// <summary>The routing socket as Server-Sent Events: every committed change once, in order, resumable.</summary>
public abstract class EventTests<TStore>(TStore store) : ApiTests<TStore>(store) where TStore : StoreFixture
{
    [Fact]
    public async Task Every_kind_of_change_is_announced_once_in_order_with_ids_that_increase_by_one()
    {
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(Client);
        var created = await Client.CreateOk(c);
        var (id, name) = (created.Str("id"), created.Str("name"));
        await (await Client.Patch(name, $$"""{"name":"{{c}}w","mtu":9000,"up":true}""")).Json();
        await (await Client.PutAsync($"/v1/interfaces/{id}/groups/{c}lan", null)).Json(HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{id}/groups/{c}lan")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{id}")).StatusCode);

        var seen = await events.ReadUntilAsync(e => e.Type == "interface-departure" && e.InterfaceId == id);
        for (var i = 1; i < seen.Count; i++)
            Assert.Equal(seen[i - 1].Id + 1, seen[i].Id);
        var mine = seen.Where(e => e.InterfaceId == id || e.Body.TryGetProperty("subject", out var s) && s.GetString() == $"{c}lan").ToList();
        Assert.Equal(
            ["interface-arrival", "interface-rename", "link-up", "interface-change", "group-attach", "group-change", "group-detach", "group-change", "interface-departure"],
            mine.Select(e => e.Type));
        Assert.Equal((name, $"{c}w"), (mine[1].Data.Str("oldName"), mine[1].Data.Str("name")));
        Assert.Equal(9000, mine[3].Data.GetProperty("changes").Int("mtu"));
        // As the kernel's group events: attach and detach when the group begins and ends, change for each member.
        Assert.Equal($"{c}lan", mine[4].Data.Str("group"));
        Assert.Equal(($"{c}lan", $"{c}w", true), (mine[5].Data.Str("group"), mine[5].Data.Str("name"), mine[5].Data.GetProperty("member").GetBoolean()));
        Assert.Equal($"{c}lan", mine[6].Data.Str("group"));
        Assert.False(mine[7].Data.GetProperty("member").GetBoolean());
        Assert.Equal((name, created.Int("index")), (mine[0].Data.Str("name"), mine[0].Data.Int("index")));
        Assert.Equal(["all", c], mine[0].Data.Strings("groups"));
        Assert.Equal(["all", c], mine[8].Data.Strings("groups"));
    }

    [Fact]
    public async Task Cloners_coming_and_going_and_links_going_down_are_announced()
    {
        await using var events = await EventStream.OpenAsync(Client);
        var c = await Client.AttachCloner(minIfs: 1);
        var made = (await Client.CreateOk(c)).Str("name");
        await (await Client.Patch(made, """{"up":true}""")).Json();
        await (await Client.Patch(made, """{"up":false}""")).Json();
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/cloners/{c}")).StatusCode);

        var seen = await events.ReadUntilAsync(e => e.Type == "cloner-detach" && e.Data.Str("cloner") == c);
        var mine = seen.Where(e => e.Body.TryGetProperty("subject", out var s) && s.GetString()!.StartsWith(c, StringComparison.Ordinal)).ToList();
        Assert.Equal(
            ["interface-arrival", "cloner-attach", "interface-arrival", "link-up", "link-down", "interface-departure", "interface-departure", "cloner-detach"],
            mine.Select(e => e.Type));
        Assert.Equal($"{c}0", mine[0].Data.Str("name")); // the minIfs unit arrives with its cloner
        Assert.Equal([$"{c}0", made], mine.Where(e => e.Type == "interface-departure").Select(e => e.Data.Str("name")).Order());
    }

    [Fact]
    public async Task A_destroy_leaves_every_group_and_the_last_member_to_leave_ends_it()
    {
        var c = await Client.AttachCloner();
        var (lan, wan) = ($"{c}lan", $"{c}wan");
        var a = (await Client.CreateOk(c)).Str("name");
        var b = (await Client.CreateOk(c)).Str("name");
        foreach (var (name, group) in new[] { (a, lan), (b, lan), (a, wan) })
            await (await Client.PutAsync($"/v1/interfaces/{name}/groups/{group}", null)).Json(HttpStatusCode.Created);
        await using var events = await EventStream.OpenAsync(Client);

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{a}")).StatusCode);
        var seen = await events.ReadUntilAsync(e => e.Type == "group-change" && e.Data.Str("group") == wan);
        Assert.Equal(["interface-departure", "group-change", "group-detach", "group-change"], seen.Select(e => e.Type));
        Assert.Equal(["all", c, lan, wan], seen[0].Data.Strings("groups"));
        Assert.Equal((lan, a, false), (seen[1].Data.Str("group"), seen[1].Data.Str("name"), seen[1].Data.GetProperty("member").GetBoolean()));
        Assert.Equal(wan, seen[2].Data.Str("group")); // lan still has b; wan had only a
        Assert.Equal((wan, a), (seen[3].Data.Str("group"), seen[3].Data.Str("name")));
        await (await Client.GetAsync($"/v1/groups/{wan}")).Problem(HttpStatusCode.NotFound, "ENOENT");
        Assert.Equal([b], (await Client.GetOk($"/v1/groups/{lan}")).Strings("members"));

        // A noGroup cloner's clones are not in its group by creation: joining it is a group call like any.
        var quiet = await Client.AttachCloner(noGroup: true);
        var q = (await Client.CreateOk(quiet)).Str("name");
        await (await Client.PutAsync($"/v1/interfaces/{q}/groups/{quiet}", null)).Json(HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{q}")).StatusCode);
        seen = await events.ReadUntilAsync(e => e.Type == "group-change" && e.Data.Str("group") == quiet && !e.Data.GetProperty("member").GetBoolean());
        Assert.Equal(["interface-departure", "group-detach", "group-change"], seen.SkipWhile(e => e.Type != "interface-departure").Select(e => e.Type));

        // A cloner's detach takes its clones out of their groups the same way.
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/cloners/{c}")).StatusCode);
        seen = await events.ReadUntilAsync(e => e.Type == "cloner-detach" && e.Data.Str("cloner") == c);
        Assert.Equal(["interface-departure", "group-detach", "group-change", "cloner-detach"], seen.Select(e => e.Type));
        Assert.Equal((lan, b), (seen[2].Data.Str("group"), seen[2].Data.Str("name")));
    }

    [Fact]
    public async Task A_stream_cut_mid_way_resumes_after_Last_Event_ID_without_loss_or_repeats()
    {
        var c = await Client.AttachCloner();
        var names = new List<string>();
        long last;
        await using (var events = await EventStream.OpenAsync(Client, query: $"?type=interface-arrival"))
        {
            for (var i = 0; i < 3; i++)
                names.Add((await Client.CreateOk(c)).Str("name"));
            var first = await events.NextAsync();
            var second = await events.NextAsync();
            Assert.Equal((names[0], names[1]), (first.Data.Str("name"), second.Data.Str("name")));
            last = second.Id;
        } // the subscriber goes away with one event unread

        for (var i = 0; i < 3; i++)
            names.Add((await Client.CreateOk(c)).Str("name"));
        await using var again = await EventStream.OpenAsync(Client, lastEventId: last.ToString(System.Globalization.CultureInfo.InvariantCulture), query: "?type=interface-arrival");
        var rest = new List<SseEvent>();
        while (rest.Count < 4)
            rest.Add(await again.NextAsync());
        Assert.Equal(names[2..], rest.Select(e => e.Data.Str("name")));
        Assert.All(rest, e => Assert.True(e.Id > last));
        Assert.Equal(rest.Count, rest.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public async Task Concurrent_joins_and_leaves_announce_one_beginning_and_one_end()
    {
        var c = await Client.AttachCloner();
        var g = $"{c}grp";
        var names = new List<string>();
        for (var i = 0; i < 8; i++)
            names.Add((await Client.CreateOk(c)).Str("name"));
        // Two hosts, as two replicas: only the store's locks stand between them.
        using var other = Store.NewFactory();
        using var otherHttp = other.CreateClient();
        HttpClient Via(int i) => i % 4 < 2 ? Client : otherHttp;
        await using var events = await EventStream.OpenAsync(Client, query: $"?group={g}");
        await Task.WhenAll(names.Select(async (n, i) =>
            (await Via(i).PutAsync($"/v1/interfaces/{n}/groups/{g}", null)).EnsureSuccessStatusCode()));
        // Half leave by a group call, half by being destroyed, all at once.
        await Task.WhenAll(names.Select(async (n, i) =>
            (await (i % 2 == 0 ? Via(i).DeleteAsync($"/v1/interfaces/{n}/groups/{g}") : Via(i).DeleteAsync($"/v1/interfaces/{n}"))).EnsureSuccessStatusCode()));

        var seen = new List<SseEvent>();
        while (seen.Count < 18)
            seen.Add(await events.NextAsync());
        // Replaying the announcements gives the group's life: it begins once, never runs empty in
        // between, and ends once, right before its last member's leaving.
        Assert.Equal("group-attach", seen[0].Type);
        Assert.Equal("group-detach", seen[16].Type);
        var members = 0;
        foreach (var e in seen.Where(e => e.Type == "group-change"))
        {
            members += e.Data.GetProperty("member").GetBoolean() ? 1 : -1;
            Assert.True(members >= 0);
            if (e != seen[17])
                Assert.True(members > 0, "the group ran empty without a group-detach");
        }
        Assert.Equal(0, members);
        Assert.Equal(1, seen.Count(e => e.Type == "group-attach"));
        Assert.Equal(1, seen.Count(e => e.Type == "group-detach"));
    }

    [Fact]
    public async Task A_group_filter_keeps_that_groups_own_events()
    {
        var c = await Client.AttachCloner();
        var (lan, dmz) = ($"{c}lan", $"{c}dmz");
        await using var events = await EventStream.OpenAsync(Client, query: $"?group={lan}");
        var a = (await Client.CreateOk(c)).Str("name");
        await (await Client.PutAsync($"/v1/interfaces/{a}/groups/{dmz}", null)).Json(HttpStatusCode.Created);
        await (await Client.PutAsync($"/v1/interfaces/{a}/groups/{lan}", null)).Json(HttpStatusCode.Created);
        await (await Client.Patch(a, """{"mtu":1400}""")).Json();
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{a}/groups/{lan}")).StatusCode);
        var seen = await events.ReadUntilAsync(e => e.Type == "group-detach");
        Assert.Equal(["group-attach", "group-change", "group-detach"], seen.Select(e => e.Type));
        Assert.All(seen, e => Assert.Equal(lan, e.Data.Str("group")));
        Assert.Equal("group-change", (await events.NextAsync()).Type);
        await (await Client.GetAsync("/v1/events?group=lan0")).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    [Fact]
    public async Task A_filtered_stream_still_moves_its_Last_Event_ID_past_what_it_passes_over()
    {
        var c = await Client.AttachCloner();
        await using var all = await EventStream.OpenAsync(Client);
        await using var filtered = await EventStream.OpenAsync(Client, query: $"?group={c}none");
        await filtered.ReadToIdAsync(0); // told where it starts before any event
        var start = filtered.LastEventId!.Value;
        var name = (await Client.CreateOk(c)).Str("name");
        var arrival = await all.ReadUntilAsync(e => e.Type == "interface-arrival" && e.Data.Str("name") == name);
        await filtered.ReadToIdAsync(arrival[^1].Id);
        Assert.True(arrival[^1].Id > start);

        // Reconnecting from there misses nothing and repeats nothing.
        var next = (await Client.CreateOk(c)).Str("name");
        await using var resumed = await EventStream.OpenAsync(Client, lastEventId: filtered.LastEventId.ToString());
        var e = await resumed.NextAsync();
        Assert.Equal((arrival[^1].Id + 1, next), (e.Id, e.Data.Str("name")));
    }

    [Fact]
    public async Task A_refused_change_announces_nothing()
    {
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(Client);
        var a = (await Client.CreateOk(c)).Str("name");
        var b = (await Client.CreateOk(c)).Str("name");
        await (await Client.Patch(a, """{"mtu":10}""")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Patch(a, $$"""{"name":"{{b}}"}""")).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { group = "x1" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Patch(a, $$"""{"name":"{{a}}"}""")).Json(); // the same name: nothing changes, nothing is said
        var marker = (await Client.CreateOk(c)).Str("name");
        var seen = await events.ReadUntilAsync(e => e.Type == "interface-arrival" && e.Data.Str("name") == marker);
        Assert.Equal(["interface-arrival", "interface-arrival", "interface-arrival"], seen.Select(e => e.Type));
    }

    [Fact]
    public async Task Events_written_through_one_host_reach_subscribers_of_another()
    {
        using var other = Store.NewFactory();
        using var otherHttp = other.CreateClient();
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(otherHttp, query: "?type=interface-arrival");
        var name = (await Client.CreateOk(c)).Str("name");
        var e = await events.NextAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(name, e.Data.Str("name"));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("1.5")]
    public async Task A_bad_Last_Event_ID_is_EINVAL(string id)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        request.Headers.TryAddWithoutValidation("Last-Event-ID", id);
        await (await Client.SendAsync(request)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.GetAsync($"/v1/events?after={Uri.EscapeDataString(id)}")).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }
}

public sealed class SqliteEventKeepingTests(SqliteStore store) : EventKeepingTests<SqliteStore>(store);

public sealed class PostgresEventKeepingTests(PostgresStore store) : EventKeepingTests<PostgresStore>(store);

/// <summary>Events are kept for a while and up to a number; a subscriber resuming past that is told, not short-changed.</summary>
public abstract class EventKeepingTests<TStore>(TStore store) : ApiTests<TStore>(store, ("Events:Keep", "3")) where TStore : StoreFixture
{
    private EventSequencer Sequencer => Factory.Services.GetRequiredService<EventSequencer>();

    /// <summary>Makes <paramref name="count"/> events and returns the newest id once all are numbered.</summary>
    private async Task<long> MakeEventsAsync(int count)
    {
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(Client, query: "?type=interface-arrival");
        SseEvent last = null!;
        for (var i = 0; i < count; i++)
            await Client.CreateOk(c);
        for (var i = 0; i < count; i++)
            last = await events.NextAsync();
        return last.Id;
    }

    private async Task<HttpResponseMessage> ResumeAsync(long after)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        request.Headers.TryAddWithoutValidation("Last-Event-ID", after.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    [Fact]
    public async Task Only_the_newest_are_kept_and_resuming_after_one_dropped_is_ENOBUFS()
    {
        var newest = await MakeEventsAsync(6);
        await Sequencer.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(newest - 2, await Sequencer.OldestAsync(CancellationToken.None));

        // Right before the oldest kept: nothing was missed.
        await using (var resumed = await EventStream.OpenAsync(Client, lastEventId: (newest - 3).ToString(System.Globalization.CultureInfo.InvariantCulture)))
            Assert.Equal(newest - 2, (await resumed.NextAsync()).Id);
        // One earlier: that event is gone, and the subscriber hears so instead of a stream with a hole.
        var gone = await (await ResumeAsync(newest - 4)).Problem(HttpStatusCode.Gone, "ENOBUFS");
        Assert.Contains($"{newest - 3}", gone.Str("detail"));
        // after=0 is everything kept.
        await using (var all = await EventStream.OpenAsync(Client, query: "?after=0"))
            Assert.Equal(newest - 2, (await all.NextAsync()).Id);
        // An id never given is a mistake, not a wait.
        await (await ResumeAsync(newest + 100)).Problem(HttpStatusCode.BadRequest, "EINVAL");

        // Numbering goes on from the newest kept.
        Assert.Equal(newest + 2, await MakeEventsAsync(1)); // the cloner's attach, then the arrival
    }

    [Fact]
    public async Task Events_older_than_the_retention_are_dropped_all_but_the_newest()
    {
        var newest = await MakeEventsAsync(2); // the cloner's attach and two arrivals: as many as are kept
        await Sequencer.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(newest - 2, await Sequencer.OldestAsync(CancellationToken.None));

        await Sequencer.PruneAsync(DateTimeOffset.UtcNow.AddDays(2), CancellationToken.None); // a day's retention, two days on
        Assert.Equal(newest, await Sequencer.OldestAsync(CancellationToken.None));
        Assert.Equal(newest, await Sequencer.LastAsync(CancellationToken.None));
        await (await ResumeAsync(newest - 2)).Problem(HttpStatusCode.Gone, "ENOBUFS"); // newest - 1 was dropped

        await using var resumed = await EventStream.OpenAsync(Client, lastEventId: newest.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var c = await Client.AttachCloner();
        var next = await resumed.NextAsync();
        Assert.Equal((newest + 1, "cloner-attach", c), (next.Id, next.Type, next.Data.Str("cloner")));
    }

    [Theory]
    [InlineData("Events:Retention", "soon")]      // not a duration: the binder's message
    [InlineData("Events:Retention", "-01:00:00")] // a duration out of range: the service's
    [InlineData("Events:Keep", "0")]
    [InlineData("Events:Keep", "many")]
    public void A_bad_keeping_setting_stops_start_up_and_names_itself(string key, string value)
    {
        using var factory = Store.NewFactory((key, value));
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains(key, e.ToString(), StringComparison.Ordinal);
        Assert.Contains($"'{value}'", e.ToString(), StringComparison.Ordinal);
    }
}
