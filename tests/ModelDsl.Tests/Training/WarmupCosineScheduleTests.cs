using System;
using ModelDsl.Training;

namespace ModelDsl.Tests.Training;

public class WarmupCosineScheduleTests
{
    private readonly WarmupCosineSchedule schedule = new(1e-3, totalSteps: 101, warmupSteps: 10, minLearningRateRatio: 0.1);

    [Fact]
    public void Warmup_rises_linearly_from_the_first_step_to_the_base_rate()
    {
        Assert.Equal(1e-4, schedule.LearningRateAt(0), 12);
        Assert.Equal(5e-4, schedule.LearningRateAt(4), 12);
        Assert.Equal(1e-3, schedule.LearningRateAt(9), 12);   // last warmup step
        Assert.Equal(1e-3, schedule.LearningRateAt(10), 12);  // first decay step
    }

    [Fact]
    public void Cosine_decay_is_halfway_in_the_middle_and_reaches_the_minimum_at_the_last_step()
    {
        Assert.Equal(1e-4 + 0.5 * (1e-3 - 1e-4), schedule.LearningRateAt(55), 12);
        Assert.Equal(1e-4, schedule.LearningRateAt(100), 12);
        Assert.Equal(1e-4, schedule.LearningRateAt(500), 12);
        Assert.True(schedule.LearningRateAt(30) > schedule.LearningRateAt(31));
    }

    [Fact]
    public void Without_warmup_the_first_step_uses_the_base_rate()
    {
        var plain = new WarmupCosineSchedule(0.01, totalSteps: 3);

        Assert.Equal(0.01, plain.LearningRateAt(0), 12);
        Assert.Equal(0.005, plain.LearningRateAt(1), 12);
        Assert.Equal(0.0, plain.LearningRateAt(2), 12);
    }

    [Fact]
    public void Invalid_settings_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(1e-3, totalSteps: 10, warmupSteps: 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(0, totalSteps: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(1e-3, totalSteps: 10, minLearningRateRatio: 1.5));
    }
}

public class LearningRateScheduleTests
{
    [Fact]
    public void Linear_decay_falls_in_a_straight_line_to_the_minimum()
    {
        var schedule = LearningRateSchedule.Create(ScheduleKind.Linear, 1e-3, totalSteps: 12, warmupSteps: 1, minLearningRateRatio: 0.1);

        Assert.Equal(ScheduleKind.Linear, schedule.Kind);
        Assert.Equal(1e-3, schedule.LearningRateAt(0), 12);                 // the single warmup step
        Assert.Equal(1e-3, schedule.LearningRateAt(1), 12);                 // decay starts at the base rate
        Assert.Equal(1e-3 - 0.5 * 0.9e-3, schedule.LearningRateAt(6), 12);  // halfway
        Assert.Equal(1e-4, schedule.LearningRateAt(11), 12);
    }

    [Fact]
    public void Constant_keeps_the_base_rate_after_warmup()
    {
        var schedule = LearningRateSchedule.Create(ScheduleKind.Constant, 0.01, totalSteps: 10, warmupSteps: 4);

        Assert.Equal(0.0025, schedule.LearningRateAt(0), 12);
        Assert.Equal(0.01, schedule.LearningRateAt(3), 12);
        Assert.Equal(0.01, schedule.LearningRateAt(9), 12);
    }
}
